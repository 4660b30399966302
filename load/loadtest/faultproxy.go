package loadtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// Fault is what a FaultProxy does to one request.
type Fault int

// The faults a FaultProxy injects.
const (
	// Pass forwards the request and its response untouched.
	Pass Fault = iota
	// Status500 answers 500 InternalError without forwarding.
	Status500
	// Status503 answers 503 SlowDown without forwarding.
	Status503
	// Reset resets the connection without forwarding.
	Reset
	// LostResponse forwards the request (the server applies it) and then
	// closes the connection instead of answering.
	LostResponse
	// Truncate forwards the request and sends the response's status,
	// headers and half its body, then closes the connection.
	Truncate
	// Status403 answers 403 AccessDenied without forwarding: an error no
	// client retries (RandomFaults never draws it).
	Status403
	// Status501 answers 501 NotImplemented without forwarding, as a service
	// that lacks the operation does (RandomFaults never draws it).
	Status501
)

func (f Fault) String() string {
	return [...]string{"pass", "500", "503", "reset", "lost response", "truncated body", "403", "501"}[f]
}

// FaultProxy is an HTTP proxy in front of an S3-compatible server that
// injects faults: answers the server never gave, connections reset before or
// after the server saw the request, bodies cut short. It keeps the Host
// header, so SigV4 signatures made for the proxy's address still verify.
type FaultProxy struct {
	// URL is the proxy's address, to use as the S3 endpoint.
	URL string

	target string
	mu     sync.Mutex
	decide func(r *http.Request, n int) Fault
	counts map[Fault]int
	n      int
}

// StartFaultProxy starts a proxy to target (an http:// URL) on loopback,
// closed when the test ends. decide picks the fault of the n-th request (from
// 0); nil passes everything until SetFaults.
func StartFaultProxy(tb testing.TB, target string, decide func(r *http.Request, n int) Fault) *FaultProxy {
	tb.Helper()
	p := &FaultProxy{target: target, decide: decide, counts: map[Fault]int{}}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	tb.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// SetFaults replaces the decision function; nil passes everything.
func (p *FaultProxy) SetFaults(decide func(r *http.Request, n int) Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.decide = decide
}

// Counts returns how many requests got each fault so far.
func (p *FaultProxy) Counts() map[Fault]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Fault]int, len(p.counts))
	for f, n := range p.counts {
		out[f] = n
	}
	return out
}

// RandomFaults returns a decision function that gives each request a fault
// with probability rate, the fault drawn uniformly, from a generator seeded
// with seed: the same seed and the same requests give the same faults.
func RandomFaults(seed uint64, rate float64) func(*http.Request, int) Fault {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var mu sync.Mutex
	return func(*http.Request, int) Fault {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() >= rate {
			return Pass
		}
		return Fault(1 + rng.IntN(int(Truncate)))
	}
}

func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	p.mu.Lock()
	fault := Pass
	if p.decide != nil {
		fault = p.decide(r, p.n)
	}
	p.n++
	p.counts[fault]++
	p.mu.Unlock()

	switch fault {
	case Status500:
		s3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		return
	case Status503:
		s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return
	case Status403:
		s3Error(w, http.StatusForbidden, "AccessDenied", "Access Denied")
		return
	case Status501:
		s3Error(w, http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented.")
		return
	case Reset:
		hijack(w, nil)
		return
	}
	resp, err := p.forward(r, body)
	if err != nil {
		s3Error(w, http.StatusBadGateway, "BadGateway", err.Error())
		return
	}
	defer resp.Body.Close()
	switch fault {
	case LostResponse:
		io.Copy(io.Discard, resp.Body)
		hijack(w, nil)
	case Truncate:
		data, _ := io.ReadAll(resp.Body)
		hijack(w, func(c net.Conn) {
			bw := bufio.NewWriter(c)
			fmt.Fprintf(bw, "HTTP/1.1 %s\r\n", resp.Status)
			resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
			resp.Header.Write(bw)
			bw.WriteString("\r\n")
			bw.Write(data[:len(data)/2])
			bw.Flush()
		})
	default:
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}
}

// forward sends r, with its body and Host header, to the target.
func (p *FaultProxy) forward(r *http.Request, body []byte) (*http.Response, error) {
	out, err := http.NewRequest(r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		switch k {
		case "Connection", "Expect", "Transfer-Encoding":
		default:
			out.Header[k] = vs
		}
	}
	out.Host = r.Host
	out.ContentLength = int64(len(body))
	return http.DefaultTransport.RoundTrip(out)
}

// hijack takes the connection over and closes it: with a reset when write
// is nil, else after write has sent what it wants (the client then sees the
// body end early).
func hijack(w http.ResponseWriter, write func(net.Conn)) {
	c, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if write != nil {
		write(c)
	} else if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}
