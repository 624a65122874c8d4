//! The Lua scripts, loaded once per process. Each session script is `lua/common.lua`
//! followed by its own file; redis-rs runs them with `EVALSHA` and loads them on
//! `NOSCRIPT` (after a Redis restart, say).

use std::sync::LazyLock;

use redis::Script;

macro_rules! session_script {
    ($file:literal) => {
        Script::new(concat!(
            include_str!("lua/common.lua"),
            include_str!(concat!("lua/", $file))
        ))
    };
}

/// Every script of the crate.
pub(crate) struct Scripts {
    pub(crate) insert: Script,
    pub(crate) get_by_id: Script,
    pub(crate) get_by_refresh: Script,
    pub(crate) list_user: Script,
    pub(crate) extend: Script,
    pub(crate) touch: Script,
    pub(crate) rekey: Script,
    pub(crate) rotate: Script,
    pub(crate) remove: Script,
    pub(crate) remove_user: Script,
    pub(crate) purge: Script,
    pub(crate) list_index: Script,
    pub(crate) count_index: Script,
    pub(crate) remove_index: Script,
    pub(crate) gcra: Script,
    pub(crate) attempt_reserve: Script,
    pub(crate) attempt_release: Script,
    pub(crate) lease_acquire: Script,
    pub(crate) lease_release: Script,
    pub(crate) settings_put: Script,
    pub(crate) settings_delete: Script,
}

pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    insert: session_script!("insert.lua"),
    get_by_id: session_script!("get_by_id.lua"),
    get_by_refresh: session_script!("get_by_refresh.lua"),
    list_user: session_script!("list_user.lua"),
    extend: session_script!("extend.lua"),
    touch: session_script!("touch.lua"),
    rekey: session_script!("rekey.lua"),
    rotate: session_script!("rotate.lua"),
    remove: session_script!("remove.lua"),
    remove_user: session_script!("remove_user.lua"),
    purge: session_script!("purge.lua"),
    list_index: session_script!("list_index.lua"),
    count_index: session_script!("count_index.lua"),
    remove_index: session_script!("remove_index.lua"),
    gcra: Script::new(include_str!("lua/gcra.lua")),
    attempt_reserve: Script::new(include_str!("lua/attempt_reserve.lua")),
    attempt_release: Script::new(include_str!("lua/attempt_release.lua")),
    lease_acquire: Script::new(include_str!("lua/lease_acquire.lua")),
    lease_release: Script::new(include_str!("lua/lease_release.lua")),
    settings_put: Script::new(include_str!("lua/settings_put.lua")),
    settings_delete: Script::new(include_str!("lua/settings_delete.lua")),
});
