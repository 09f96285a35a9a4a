package chaos

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one OS process of the suite, started again with the same
// arguments after a kill. Its stdout and stderr go to a log file (appended
// across restarts, each start marked); the last lines are kept for
// reports. A Proc that exits without being killed or stopped is counted
// and, while the run goes on, started again after a second (as a
// supervisor would).
type Proc struct {
	Name string
	Path string
	Args []string
	Env  []string // added to the environment
	Log  string   // log file
	// Ready is a substring of a log line that says the process is up;
	// empty: up when started.
	Ready string
	// OnExit, if set, is called (without locks held) when the process
	// exits without being killed or stopped, with the exit error.
	OnExit func(p *Proc, err error)

	mu       sync.Mutex // guards below
	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has exited
	expected bool          // the exit was asked for (kill or stop)
	ready    chan struct{} // closed at the first Ready line of this start
	tail     []string      // last lines
	starts   int
	exits    int // unexpected exits
}

const tailLines = 40

// Start starts the process; it is an error if it runs.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s: already running", p.Name)
	}
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(f, "=== chaos: start %d of %s at %s: %s %s\n", p.starts, p.Name, time.Now().Format(time.RFC3339Nano), p.Path, strings.Join(p.Args, " "))
	pr, pw := io.Pipe()
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = pw, pw
	// Where the OS allows it, the process dies with the suite (a go test
	// timeout ends the suite without its cleanup).
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		pw.Close()
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	ready := make(chan struct{})
	if p.Ready == "" {
		close(ready)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.ready, p.expected = cmd, done, ready, false
	go p.copyLog(pr, f, ready)
	go func() {
		err := cmd.Wait()
		pw.Close()
		p.mu.Lock()
		unexpected := !p.expected
		if unexpected {
			p.exits++
		}
		p.cmd = nil
		p.mu.Unlock()
		close(done)
		if unexpected && p.OnExit != nil {
			p.OnExit(p, err)
		}
	}()
	return nil
}

// copyLog writes the output to f, keeps the tail and closes ready at the
// first line containing p.Ready.
func (p *Proc) copyLog(r io.Reader, f *os.File, ready chan struct{}) {
	defer f.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	seen := p.Ready == ""
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(f, line)
		p.mu.Lock()
		p.tail = append(p.tail, line)
		if len(p.tail) > tailLines {
			p.tail = p.tail[len(p.tail)-tailLines:]
		}
		p.mu.Unlock()
		if !seen && strings.Contains(line, p.Ready) {
			seen = true
			close(ready)
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// WaitReady waits for the Ready line of the current start.
func (p *Proc) WaitReady(d time.Duration) error {
	p.mu.Lock()
	ready, done := p.ready, p.done
	p.mu.Unlock()
	if ready == nil {
		return fmt.Errorf("%s: not started", p.Name)
	}
	select {
	case <-ready:
		return nil
	case <-done:
		return fmt.Errorf("%s exited before it was ready; last lines:\n%s", p.Name, p.Tail(15))
	case <-time.After(d):
		return fmt.Errorf("%s not ready after %s; last lines:\n%s", p.Name, d, p.Tail(15))
	}
}

// Running reports whether the process runs.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// Pid is the running process's ID, 0 if none.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kill sends SIGKILL to the process (by its ID) and waits until it has
// exited.
func (p *Proc) Kill() error { return p.end(syscall.SIGKILL, 5*time.Second) }

// Stop sends SIGTERM and waits up to d, then kills.
func (p *Proc) Stop(d time.Duration) error {
	if err := p.end(syscall.SIGTERM, d); err == nil {
		return nil
	}
	return p.Kill()
}

var errNotRunning = errors.New("not running")

func (p *Proc) end(sig syscall.Signal, d time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	if cmd == nil {
		p.mu.Unlock()
		return errNotRunning
	}
	p.expected = true
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: %v: %w", p.Name, sig, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(d):
		return fmt.Errorf("%s did not exit %s after %v", p.Name, d, sig)
	}
}

// Tail returns the last n lines the process wrote.
func (p *Proc) Tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tail
	if len(t) > n {
		t = t[len(t)-n:]
	}
	return "    " + strings.Join(t, "\n    ")
}

// Exits is how many times the process exited on its own.
func (p *Proc) Exits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exits
}
