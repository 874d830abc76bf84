package redis

// BatchScript is the limit script, for the client benchmark.
var BatchScript = batchScript
