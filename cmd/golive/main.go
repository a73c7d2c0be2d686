// Command golive is a load-testing and resilience harness for EU Digital
// COVID Certificate issuers, and a reference issuer to test.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

// run executes one command line and returns the process exit code, so tests
// can drive the CLI in-process.
func run(ctx context.Context, args []string) int {
	return runIO(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

// runIO is run with explicit standard streams.
func runIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ex *exitError
	if errors.As(err, &ex) {
		if ex.msg != "" {
			fmt.Fprintln(root.ErrOrStderr(), ex.msg)
		}
		return ex.code
	}
	// Cobra's own flag and argument errors: usage errors, exit 2.
	fmt.Fprintf(root.ErrOrStderr(), "golive: %v (see 'golive %s --help')\n", err, commandPath(root, args))
	return 2
}

// exitError carries a message already formatted for the user and the exit
// code the command's contract promises.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageErr is a mistake in the command line: exit 2 with one line that says
// how to fix it.
func usageErr(format string, a ...any) error {
	return &exitError{code: 2, msg: "golive: " + fmt.Sprintf(format, a...)}
}

// failErr is a failure of the operation itself: exit 1.
func failErr(format string, a ...any) error {
	return &exitError{code: 1, msg: "golive: " + fmt.Sprintf(format, a...)}
}

// quietFail exits with code without printing: the command already wrote
// its answer (e.g. a verification reason) to stdout.
func quietFail(code int) error { return &exitError{code: code} }
