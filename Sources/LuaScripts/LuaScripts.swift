/// The Redis Lua scripts of the service, one `RedisScript` per file in `scripts/lua` (the only
/// copy of each), compiled in by the `EmbedLuaScripts` build plugin: `coupon-publish.lua` is
/// `LuaScripts.couponPublish`.
public enum LuaScripts {}
