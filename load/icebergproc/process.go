package icebergproc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// Binary is the name of the binary that serves the Iceberg catalog.
const Binary = "callrecords-etl-iceberg"

// Find returns the path of the Iceberg binary: next to the running
// executable (as `make build` and the container image install it), else on
// PATH.
func Find() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), Binary)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(Binary)
	if err != nil {
		return "", fmt.Errorf("the Iceberg table format needs the %s binary next to this one or on PATH (make build, or go install …/cmd/%s): %w", Binary, Binary, err)
	}
	return p, nil
}

// The wire: JSON values over the process's stdin and stdout. The parent
// sends the setup first, and the process answers with the response of id 0
// once its catalog is open (or failed to); then requests and responses,
// matched by id, any number in flight. Closing stdin ends the process once
// its requests are answered.
type request struct {
	ID          uint64          `json:"id"`
	Op          string          `json:"op"` // stage, publish, maintain, cancel
	Table       string          `json:"table,omitempty"`
	Day         string          `json:"day,omitempty"`
	Tenant      string          `json:"tenant,omitempty"`
	RunID       string          `json:"run_id,omitempty"`
	Local       *load.LocalFile `json:"local,omitempty"`
	Maintenance *Maintenance    `json:"maintenance,omitempty"`
}

type response struct {
	ID         uint64      `json:"id"`
	Error      string      `json:"error,omitempty"`
	Published  *Published  `json:"published,omitempty"`
	Maintained *Maintained `json:"maintained,omitempty"`
}

// Process is a [Catalog] served by the Iceberg binary in a child process.
type Process struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser

	wmu sync.Mutex // one request written at a time
	enc *json.Encoder

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan response

	exited  chan struct{} // closed when the process's stdout ends
	exitErr error         // why, once exited is closed
	waitErr error         // its exit status, if not 0
	stderr  tail
	closed  sync.Once
}

// Start starts the Iceberg binary at path and sends it setup, which it
// opens its catalog from: setup may hold secrets, and goes over the pipe
// only (never the command line or the environment). Lines the process
// writes to stderr are logged. Start returns once the catalog is open.
func Start(ctx context.Context, path string, setup any, logger *slog.Logger) (*Process, error) {
	cmd := exec.Command(path) // with this process's environment: the cloud SDKs' credential chains read it
	dieWithParent(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	p := &Process{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), pending: map[uint64]chan response{}, exited: make(chan struct{})}
	opened := make(chan response, 1)
	p.pending[0] = opened
	p.next = 1
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			p.stderr.add(sc.Text())
			if logger != nil {
				logger.Warn("iceberg process", "stderr", sc.Text())
			}
		}
		io.Copy(io.Discard, stderr) // after a line too long: a full pipe would block the process
	}()
	go p.read(stdout, stderrDone)
	if err := p.enc.Encode(setup); err != nil {
		p.kill()
		return nil, fmt.Errorf("%s: send setup: %w", Binary, p.why(err))
	}
	r, err := p.wait(ctx, 0, opened)
	if err == nil && r.Error != "" {
		err = errors.New(r.Error)
	}
	if err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// read dispatches the process's responses until its stdout ends.
func (p *Process) read(stdout io.Reader, stderrDone <-chan struct{}) {
	dec := json.NewDecoder(bufio.NewReader(stdout))
	var err error
	for {
		var r response
		if err = dec.Decode(&r); err != nil {
			break
		}
		p.mu.Lock()
		ch := p.pending[r.ID]
		delete(p.pending, r.ID)
		p.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
	<-stderrDone
	waitErr := p.cmd.Wait()
	p.waitErr = waitErr
	if errors.Is(err, io.EOF) && waitErr == nil {
		p.exitErr = fmt.Errorf("%s exited", Binary)
	} else {
		p.exitErr = fmt.Errorf("%s exited: %v", Binary, errors.Join(waitErr, ignoreEOF(err)))
	}
	if last := p.stderr.String(); last != "" {
		p.exitErr = fmt.Errorf("%w; it said: %s", p.exitErr, last)
	}
	close(p.exited)
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// why is the process's exit, when a write to it failed because it exited.
func (p *Process) why(err error) error {
	select {
	case <-p.exited:
		return p.exitErr
	case <-time.After(time.Second):
		return err
	}
}

// wait waits for the response of request id on ch, its channel (which the
// reader may have answered on and dropped from pending already).
func (p *Process) wait(ctx context.Context, id uint64, ch <-chan response) (response, error) {
	select {
	case r := <-ch:
		return r, nil
	case <-p.exited:
		select {
		case r := <-ch: // answered just before it exited
			return r, nil
		default:
			return response{}, p.exitErr
		}
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.pending, id)
		p.mu.Unlock()
		if id != 0 {
			p.send(request{ID: id, Op: "cancel"}) // best effort
		}
		return response{}, ctx.Err()
	}
}

func (p *Process) send(r request) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return p.enc.Encode(r)
}

// call sends a request and waits for its response.
func (p *Process) call(ctx context.Context, r request) (response, error) {
	ch := make(chan response, 1)
	p.mu.Lock()
	r.ID = p.next
	p.next++
	p.pending[r.ID] = ch
	p.mu.Unlock()
	if err := p.send(r); err != nil {
		p.mu.Lock()
		delete(p.pending, r.ID)
		p.mu.Unlock()
		return response{}, p.why(err)
	}
	resp, err := p.wait(ctx, r.ID, ch)
	if err == nil && resp.Error != "" {
		err = errors.New(resp.Error)
	}
	return resp, err
}

// Stage implements [Catalog]: local's file is read by the process.
func (p *Process) Stage(ctx context.Context, lakeTable, day, tenant, runID string, local load.LocalFile) error {
	_, err := p.call(ctx, request{Op: "stage", Table: lakeTable, Day: day, Tenant: tenant, RunID: runID, Local: &local})
	return err
}

// Publish implements [Catalog].
func (p *Process) Publish(ctx context.Context, lakeTable, tenant, runID string) (Published, error) {
	r, err := p.call(ctx, request{Op: "publish", Table: lakeTable, Tenant: tenant, RunID: runID})
	if err != nil || r.Published == nil {
		return Published{}, errors.Join(err, missing(r.Published == nil && err == nil))
	}
	return *r.Published, nil
}

// Maintain implements [Catalog].
func (p *Process) Maintain(ctx context.Context, lakeTable string, m Maintenance) (Maintained, error) {
	r, err := p.call(ctx, request{Op: "maintain", Table: lakeTable, Maintenance: &m})
	if err != nil || r.Maintained == nil {
		return Maintained{Table: lakeTable}, errors.Join(err, missing(r.Maintained == nil && err == nil))
	}
	return *r.Maintained, nil
}

func missing(yes bool) error {
	if yes {
		return fmt.Errorf("%s answered without a result", Binary)
	}
	return nil
}

// closeGrace bounds how long Close waits for the process to finish what
// it was asked before killing it.
const closeGrace = time.Minute

// Close ends the process: it answers what is in flight, closes its
// catalog and exits. The error is its exit's, if it failed.
func (p *Process) Close() error {
	p.closed.Do(func() {
		p.stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(closeGrace):
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	if p.waitErr != nil {
		return p.exitErr
	}
	return nil
}

// kill ends the process at once.
func (p *Process) kill() {
	p.closed.Do(func() {
		p.stdin.Close()
		p.cmd.Process.Kill()
		<-p.exited
	})
}

// tail keeps the last lines a process wrote to stderr, for its errors.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 5 {
		t.lines = t.lines[1:]
	}
	t.lines = append(t.lines, line)
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, " | ")
}

// Serve serves a catalog over in and out for [Start]: it reads the setup
// from in, opens the catalog with open, and answers requests until in ends
// (then waits for those in flight and closes the catalog). A request's
// error is its response's; Serve returns an error only if it cannot go on.
func Serve(ctx context.Context, in io.Reader, out io.Writer, open func(ctx context.Context, setup json.RawMessage) (Catalog, error)) error {
	dec := json.NewDecoder(bufio.NewReader(in))
	enc := json.NewEncoder(out)
	var wmu sync.Mutex
	reply := func(r response) {
		wmu.Lock()
		defer wmu.Unlock()
		enc.Encode(r) // a parent gone is noticed by the next read
	}
	var setup json.RawMessage
	if err := dec.Decode(&setup); err != nil {
		return fmt.Errorf("read setup: %w", err)
	}
	ctx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	cat, err := open(ctx, setup)
	if err != nil {
		reply(response{ID: 0, Error: err.Error()})
		return err
	}
	reply(response{ID: 0})

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		cancels = map[uint64]context.CancelFunc{}
	)
	for {
		var r request
		if err = dec.Decode(&r); err != nil {
			break
		}
		if r.Op == "cancel" {
			mu.Lock()
			if c := cancels[r.ID]; c != nil {
				c()
			}
			mu.Unlock()
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		mu.Lock()
		cancels[r.ID] = cancel
		mu.Unlock()
		wg.Go(func() {
			resp := handle(rctx, cat, r)
			mu.Lock()
			delete(cancels, r.ID)
			mu.Unlock()
			cancel()
			reply(resp)
		})
	}
	if !errors.Is(err, io.EOF) {
		// Not the parent closing its end: a parent killed, or a broken
		// pipe. What is in flight is stopped.
		cancelAll()
	}
	wg.Wait()
	return errors.Join(ignoreEOF(err), cat.Close())
}

func handle(ctx context.Context, cat Catalog, r request) response {
	resp := response{ID: r.ID}
	var err error
	switch r.Op {
	case "stage":
		if r.Local == nil {
			err = errors.New("stage: no local file")
			break
		}
		err = cat.Stage(ctx, r.Table, r.Day, r.Tenant, r.RunID, *r.Local)
	case "publish":
		var pub Published
		pub, err = cat.Publish(ctx, r.Table, r.Tenant, r.RunID)
		resp.Published = &pub
	case "maintain":
		if r.Maintenance == nil {
			err = errors.New("maintain: no maintenance")
			break
		}
		var m Maintained
		m, err = cat.Maintain(ctx, r.Table, *r.Maintenance)
		resp.Maintained = &m
	default:
		err = fmt.Errorf("unknown operation %q", r.Op)
	}
	if err != nil {
		resp.Error = err.Error()
		resp.Published, resp.Maintained = nil, nil
	}
	return resp
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }
