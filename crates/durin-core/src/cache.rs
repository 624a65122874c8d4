pub struct CacheConfig;
pub struct CachedTokenStore;
