package jobs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
)

// importInput reads the records of an import: JSON lines, as get prints
// them and the raw archive keeps them; or, as other tools write call records
// (PowerShell's ConvertTo-Json, jq without -c), one JSON array of records,
// or records pretty-printed one after another. Any of them may be gzipped
// and may start with a UTF-8 byte order mark (PowerShell 5 writes one).
//
// A record is a line, or a value found by its brackets and quotes, so a bad
// record (not JSON, or longer than the limit) stays a record of its own and
// the ones after it are read. Only what lies between values (a missing
// comma, something after the array) or an input that ends inside a value
// ends the input. Memory holds one record of up to the limit: a longer one
// is read past, its bytes going to a file in longDir as they are read (for
// the quarantine), or only to its SHA-256 when longDir is empty.
type importInput struct {
	r       *bufio.Reader
	form    int // formLines, formArray or formValues
	limit   int
	n       int   // lines or values read
	read    int64 // bytes of the input (unzipped) read
	value   bytes.Buffer
	opened  bool // the array's opening bracket is read
	longDir string
	long    *longRecord // the record being read past
}

// longRecord is what is kept of a record longer than the limit: its size,
// its SHA-256 and, when kept, its bytes in a file.
type longRecord struct {
	file *os.File // nil: not kept
	hash hash.Hash
	size int64
	err  error // the first write to file that failed
}

// keep appends b to the record.
func (l *longRecord) keep(b []byte) {
	l.size += int64(len(b))
	l.hash.Write(b)
	if l.file != nil && l.err == nil {
		_, l.err = l.file.Write(b)
	}
}

// Sum is the record's SHA-256.
func (l *longRecord) Sum() []byte { return l.hash.Sum(nil) }

// remove deletes the file of the record's bytes, if any.
func (l *longRecord) remove() {
	if l != nil && l.file != nil {
		l.file.Close()
		os.Remove(l.file.Name())
	}
}

// overflow keeps b, a part of a record past the limit; the first call opens
// the record's file and keeps held, what the record had before.
func (in *importInput) overflow(held, b []byte) {
	if in.long == nil {
		in.long = &longRecord{hash: sha256.New()}
		if in.longDir != "" {
			in.long.file, in.long.err = os.CreateTemp(in.longDir, "long-record-*")
		}
		in.long.keep(held)
	}
	in.long.keep(b)
}

// tooLong ends the record being read past: its error, or an error if its
// bytes could not be kept.
func (in *importInput) tooLong(start, size int64) error {
	l := in.long
	in.long = nil
	if l == nil { // nothing kept yet
		l = &longRecord{hash: sha256.New()}
	}
	if l.err == nil && l.file != nil {
		_, l.err = l.file.Seek(0, io.SeekStart)
	}
	if l.err != nil {
		l.remove()
		return fmt.Errorf("read import %s %d: keep the bytes of a record longer than %d bytes: %w", in.unit(), in.n, in.limit, l.err)
	}
	return &tooLongError{unit: in.unit(), pos: in.n, start: start, size: size, limit: in.limit, kept: l}
}

const (
	formLines = iota
	formArray
	formValues
)

// tooLongError is a record longer than the limit, read past: its bytes
// are in kept (the caller removes them), or only their digest.
type tooLongError struct {
	unit        string
	pos         int
	start, size int64
	limit       int
	kept        *longRecord
}

func (e *tooLongError) Error() string {
	return fmt.Sprintf("%s %d of the input (bytes %d to %d) is %d bytes long, more than the %d a record may have",
		e.unit, e.pos, e.start, e.start+e.size, e.size, e.limit)
}

func newImportInput(src io.Reader, limit int) (*importInput, error) {
	br := bufio.NewReaderSize(src, 64<<10)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read gzipped input: %w", err)
		}
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xef, 0xbb, 0xbf}) {
		br.Discard(3)
	}
	in := &importInput{limit: limit}
	head, _ := br.Peek(br.Size()) // as much as is there: the form shows at the start
	head = bytes.TrimLeft(head, " \t\r\n")
	first, _, _ := bytes.Cut(head, []byte("\n"))
	switch {
	case len(head) > 0 && head[0] == '[':
		in.form = formArray
	case string(bytes.TrimSpace(first)) == "{": // a pretty-printed object
		in.form = formValues
	}
	// A line that fits is handed out of the buffer, not copied.
	in.r = bufio.NewReaderSize(br, 1<<20)
	return in, nil
}

// unit is what a position counts: "line" or "record".
func (in *importInput) unit() string {
	if in.form == formLines {
		return "line"
	}
	return "record"
}

// next returns the next record, trimmed (a line) or without its
// insignificant space (a value), and its position (in unit()s from 1); nil
// at the end of the input. An empty line is skipped. The record is valid
// until the next call. A *tooLongError is a record read past: the input goes
// on after it.
func (in *importInput) next() ([]byte, int, error) {
	if in.form == formLines {
		return in.nextLine()
	}
	return in.nextValue()
}

func (in *importInput) nextLine() ([]byte, int, error) {
	for {
		start := in.read
		in.value.Reset()
		var line []byte
		var size int64
		// cr: the part of the line last kept ended with a \r, held back:
		// the line's ending if a \n follows, else a byte of the line.
		cr := false
		for {
			chunk, err := in.r.ReadSlice('\n')
			in.read += int64(len(chunk))
			size += int64(len(chunk))
			switch {
			case size > int64(in.limit)+2: // its \r\n aside
				// What is kept is the line without its ending, \n or \r\n,
				// whichever part of the buffer the \r fell in.
				held := in.value.Bytes()           // kept by the first call only
				if err == nil && len(chunk) == 1 { // a lone \n: a \r before it is the ending's
					held, cr = bytes.TrimSuffix(held, []byte("\r")), false
				}
				if cr {
					in.overflow(held, []byte("\r"))
					cr = false
				}
				switch {
				case err == nil: // the line's last part
					chunk = lineContent(chunk)
				case err == bufio.ErrBufferFull && chunk[len(chunk)-1] == '\r':
					chunk, cr = chunk[:len(chunk)-1], true
				}
				in.overflow(held, chunk)
			case line == nil && in.value.Len() == 0 && err != bufio.ErrBufferFull:
				line = chunk // whole in the buffer
			default:
				in.value.Write(chunk)
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil && err != io.EOF {
				in.long.remove()
				in.long = nil
				return nil, in.n + 1, fmt.Errorf("read import line %d: %w", in.n+1, err)
			}
			if size == 0 { // io.EOF
				return nil, in.n, nil
			}
			break
		}
		in.n++
		if line == nil {
			line = in.value.Bytes()
		}
		if raw := bytes.TrimSpace(line); len(raw) > in.limit || size > int64(in.limit)+2 {
			if in.long == nil { // just over: all of it in memory
				in.overflow(nil, lineContent(line))
			}
			return nil, in.n, in.tooLong(start, size)
		} else if len(raw) > 0 {
			return raw, in.n, nil
		}
	}
}

// nextValue returns the next value of an array or of values one after
// another.
func (in *importInput) nextValue() ([]byte, int, error) {
	c, err := in.skipSpace()
	if in.form == formArray {
		if !in.opened { // newImportInput saw the bracket
			in.opened = true
			in.consume(1)
			if c, err = in.skipSpace(); err == nil && c == ']' {
				return in.closeArray()
			}
		} else { // after a value: a comma, or the end of the array
			if err == nil && c == ']' {
				return in.closeArray()
			}
			if err == nil && c != ',' {
				return nil, in.n + 1, fmt.Errorf("read import: byte %d of the input: %q after record %d, where a comma or the array's end belongs", in.read, c, in.n)
			}
			if err == nil {
				in.consume(1)
				c, err = in.skipSpace()
			}
		}
		if err != nil {
			return nil, in.n + 1, fmt.Errorf("read import record %d: the array is not closed (byte %d of the input): %w", in.n+1, in.read, unexpectedEOF(err))
		}
	}
	if err == io.EOF {
		return nil, in.n, nil
	}
	if err != nil {
		return nil, in.n + 1, fmt.Errorf("read import record %d: %w", in.n+1, err)
	}
	if c == ',' || c == ':' || c == ']' || c == '}' {
		return nil, in.n + 1, fmt.Errorf("read import: byte %d of the input: %q where record %d belongs", in.read, c, in.n+1)
	}
	in.n++
	start := in.read
	over, err := in.scanValue()
	if err != nil {
		in.long.remove()
		in.long = nil
		return nil, in.n, fmt.Errorf("read import record %d: the input ends inside it (it starts at byte %d): %w", in.n, start, err)
	}
	if over {
		return nil, in.n, in.tooLong(start, in.read-start)
	}
	return in.value.Bytes(), in.n, nil
}

func (in *importInput) closeArray() ([]byte, int, error) {
	in.consume(1)
	if _, err := in.skipSpace(); err == nil {
		return nil, in.n + 1, fmt.Errorf("read import: something follows the array at byte %d of the input", in.read)
	} else if err != io.EOF {
		return nil, in.n + 1, fmt.Errorf("read import: %w", err)
	}
	return nil, in.n, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (in *importInput) consume(n int) {
	in.r.Discard(n)
	in.read += int64(n)
}

// skipSpace reads past JSON's white space and returns the next byte, left
// unread.
func (in *importInput) skipSpace() (byte, error) {
	for {
		buf, err := in.r.Peek(1)
		if err != nil {
			return 0, err
		}
		if c := buf[0]; !isSpace(c) {
			return c, nil
		}
		in.consume(1)
	}
}

// lineContent is a line without its ending, \n or \r\n.
func lineContent(line []byte) []byte {
	if c, ok := bytes.CutSuffix(line, []byte("\n")); ok {
		return bytes.TrimSuffix(c, []byte("\r"))
	}
	return line
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// scanValue reads one value into in.value, ending it where its brackets
// close (or, for a bare scalar, at the next space or punctuation). Space
// outside strings is dropped, except one between two bytes of literals or
// numbers, so that what was not JSON does not become JSON. over: the value
// is longer than the limit; its bytes go to in.overflow instead.
func (in *importInput) scanValue() (over bool, err error) {
	in.value.Reset()
	depth, inString, escaped := 0, false, false
	space, scalarBefore := false, false // a space was dropped; the last byte kept is of a literal
	emit := func(b []byte) {
		switch {
		case over:
			in.overflow(nil, b)
		case in.value.Len()+len(b) > in.limit:
			over = true
			in.overflow(in.value.Bytes(), b)
		default:
			in.value.Write(b)
		}
	}
	for {
		if _, err := in.r.Peek(1); err != nil { // fills the buffer
			if err == io.EOF && depth == 0 && !inString {
				return over, nil // a scalar at the very end
			}
			return over, unexpectedEOF(err)
		}
		buf, _ := in.r.Peek(in.r.Buffered())
		i := 0
		done := false
	scan:
		for ; i < len(buf); i++ {
			c := buf[i]
			if inString {
				// The run of string bytes up to a quote or backslash at once.
				j := i
				for j < len(buf) && buf[j] != '"' && buf[j] != '\\' {
					j++
				}
				if escaped && j == i {
					j++ // the escaped quote or backslash
				}
				if j > i {
					emit(buf[i:j])
					escaped = false
					i = j - 1
					continue
				}
				emit(buf[i : i+1])
				if c == '\\' {
					escaped = true
				} else { // the closing quote
					inString = false
					if depth == 0 {
						i++
						done = true
						break scan
					}
				}
				continue
			}
			switch c {
			case ' ', '\t', '\r', '\n':
				if depth == 0 {
					done = true // a scalar's end
					break scan
				}
				space = true
				continue
			case '"':
				if depth == 0 && scalarBefore {
					done = true
					break scan
				}
				inString = true
			case '{', '[':
				if depth == 0 && scalarBefore {
					done = true
					break scan
				}
				depth++
			case '}', ']', ',', ':':
				if depth == 0 {
					done = true // a scalar's end, left for the caller
					break scan
				}
				if c == '}' || c == ']' {
					depth--
				}
			default:
				if space && scalarBefore {
					emit([]byte{' '})
				}
				emit(buf[i : i+1])
				space, scalarBefore = false, true
				continue
			}
			emit(buf[i : i+1])
			space, scalarBefore = false, false
			if depth == 0 && (c == '}' || c == ']') {
				i++
				done = true
				break scan
			}
		}
		in.consume(i)
		if done {
			return over, nil
		}
	}
}
