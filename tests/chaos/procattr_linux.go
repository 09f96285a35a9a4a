package chaos

import "syscall"

// procAttr makes the kernel SIGKILL a child when the suite's process (the
// thread that started it) ends.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
