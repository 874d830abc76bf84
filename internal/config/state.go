package config

import (
	"fmt"
	"net"
	"time"
)

// Redis is state.redis: where a distributed guard keeps its shared state.
type Redis struct {
	// Addrs: one address is a standalone server; several are cluster
	// nodes (or, with SentinelMaster, Sentinels).
	Addrs          []string `yaml:"addrs"`
	SentinelMaster string   `yaml:"sentinel_master"`
	Username       string   `yaml:"username"`
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv string `yaml:"password_env"`
	// Mode is strict (Redis decides every check) or local-first (each
	// node decides, counts are synced every SyncInterval).
	Mode string `yaml:"mode"`
	// OnError is open (decide locally while Redis is unavailable) or
	// closed (refuse with 503 store_unavailable).
	OnError      string        `yaml:"on_error"`
	Timeout      time.Duration `yaml:"timeout"`
	SyncInterval time.Duration `yaml:"sync_interval"`
	Prefix       string        `yaml:"prefix"`
}

// stateStore validates state.store and state.redis.
func (v *validator) stateStore() {
	st := v.c.State
	switch st.Store {
	case "memory":
		return
	case "redis":
	default:
		v.fail("state.store", "%q: want memory or redis", st.Store)
		return
	}
	r := st.Redis
	if len(r.Addrs) == 0 {
		v.fail("state.redis.addrs", "list at least one host:port with state.store redis")
	}
	for i, a := range r.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			v.fail(fmt.Sprintf("state.redis.addrs[%d]", i), "%q: want host:port", a)
		}
	}
	if r.Mode != "strict" && r.Mode != "local-first" {
		v.fail("state.redis.mode", "%q: want strict or local-first", r.Mode)
	}
	if r.OnError != "open" && r.OnError != "closed" {
		v.fail("state.redis.on_error", "%q: want open or closed", r.OnError)
	}
	if r.Timeout <= 0 || r.Timeout > time.Second {
		v.fail("state.redis.timeout", "%v: want a duration above 0 and at most 1s", r.Timeout)
	}
	if r.SyncInterval < 10*time.Millisecond || r.SyncInterval > time.Minute {
		v.fail("state.redis.sync_interval", "%v: want 10ms to 1m", r.SyncInterval)
	}
	if r.Prefix == "" {
		v.fail("state.redis.prefix", "must not be empty")
	}
}
