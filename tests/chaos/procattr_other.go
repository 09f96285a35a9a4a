//go:build !linux

package chaos

import "syscall"

// procAttr: elsewhere a child outlives a suite that ends without its
// cleanup (a go test timeout); Env.Close stops them otherwise.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
