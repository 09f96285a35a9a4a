package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go/micro"
)

func cmdHalt(args []string, stdout, stderr io.Writer) error {
	return controlCommand("halt", args, stdout, stderr)
}

func cmdResume(args []string, stdout, stderr io.Writer) error {
	return controlCommand("resume", args, stdout, stderr)
}

// controlCommand sends a halt or resume request to the control service
// (any running router answers) and prints the reply.
func controlCommand(verb string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(verb, stderr)
	var cf clientFlags
	cf.register(fs)
	var hr messages.HaltRequest
	fs.StringVar(&hr.Strategy, "strategy", "", "the strategy to "+verb)
	fs.StringVar(&hr.Key, "key", "", "the key to "+verb)
	fs.BoolVar(&hr.All, "all", false, verb+" everything")
	if verb == "halt" {
		fs.BoolVar(&hr.CancelOpen, "cancel-open", false, "also cancel the resting orders the halt covers")
		fs.StringVar(&hr.Reason, "reason", "", "why (kept with the halt)")
	}
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if hr.ControlKey() == "" {
		return errors.New("name exactly one of --all, --strategy S or --key K")
	}
	data, _ := json.Marshal(hr)
	return controlRequest(&cf, verb, data, *timeout, stdout)
}

func cmdReload(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reload", stderr)
	var cf clientFlags
	cf.register(fs)
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return controlRequest(&cf, "reload", []byte("{}"), *timeout, stdout)
}

func controlRequest(cf *clientFlags, verb string, data []byte, timeout time.Duration, stdout io.Writer) error {
	nc, err := cf.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	msg, err := nc.Request(messages.ControlService+"."+verb, data, timeout)
	if err != nil {
		return fmt.Errorf("%s: no answer from the control service (is a router running?): %w", verb, err)
	}
	if e := msg.Header.Get(micro.ErrorHeader); e != "" {
		return fmt.Errorf("%s refused: %s", verb, e)
	}
	var reply messages.ControlReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return fmt.Errorf("%s: unreadable answer %q", verb, msg.Data)
	}
	switch {
	case reply.Halted != "":
		fmt.Fprintf(stdout, "halted %s", reply.Halted)
		if reply.Canceled > 0 {
			fmt.Fprintf(stdout, ", %d open orders being canceled", reply.Canceled)
		}
		fmt.Fprintln(stdout)
	case reply.Resumed != "":
		fmt.Fprintf(stdout, "resumed %s\n", reply.Resumed)
	default:
		fmt.Fprintf(stdout, "%s: ok %s\n", verb, reply.Message)
	}
	if reply.Message != "" && reply.Halted != "" {
		return errors.New(reply.Message)
	}
	return nil
}
