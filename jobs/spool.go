package jobs

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// spoolFile keeps raw JSON values of one date on local disk, one per line, so
// that memory does not grow with a window or an input: the one spool of the
// job. The report datasets read a date's rows back in order (each); import
// and the notification inbox read back the lines they chose (line).
type spoolFile struct {
	f       *os.File
	w       *bufio.Writer
	date    string
	size    int64 // bytes written, newlines included
	removed bool
}

func newSpoolFile(dir, date string) (*spoolFile, error) {
	// A date can have several files at once: an import's chunk being
	// written while the next one fills.
	f, err := os.CreateTemp(dir, date+"-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("create spool: %w", err)
	}
	return &spoolFile{f: f, w: bufio.NewWriterSize(f, 64<<10), date: date}, nil
}

// add appends line, which holds no newline, and returns its offset.
func (s *spoolFile) add(line []byte) (offset int64, err error) {
	offset = s.size
	n, err := s.w.Write(line)
	if err == nil {
		err = s.w.WriteByte('\n')
		n++
	}
	s.size += int64(n)
	if err != nil {
		return 0, fmt.Errorf("spool %s: %w", s.date, err)
	}
	return offset, nil
}

// flush hands what add buffered to the file, for line and each.
func (s *spoolFile) flush() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("spool %s: %w", s.date, err)
	}
	return nil
}

// line reads the n bytes of the line at offset (after flush) into a new
// buffer, which the caller keeps.
func (s *spoolFile) line(offset, n int64) ([]byte, error) {
	raw := make([]byte, n)
	if _, err := s.f.ReadAt(raw, offset); err != nil {
		return nil, fmt.Errorf("read spool %s: %w", s.date, err)
	}
	return raw, nil
}

// each calls fn with every line, in the order added; the slice is valid
// until fn returns.
func (s *spoolFile) each(fn func([]byte) error) error {
	if err := s.flush(); err != nil {
		return err
	}
	sc := bufio.NewScanner(io.NewSectionReader(s.f, 0, s.size))
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read spool %s: %w", s.date, err)
	}
	return nil
}

// remove deletes the file; removing it again does nothing.
func (s *spoolFile) remove() {
	if s.removed {
		return
	}
	s.removed = true
	s.f.Close()
	os.Remove(s.f.Name())
}

// spoolDates holds a spool file per date.
type spoolDates map[string]*spoolFile

// file returns date's spool file, creating it in dir.
func (d spoolDates) file(dir, date string) (*spoolFile, error) {
	if s, ok := d[date]; ok {
		return s, nil
	}
	s, err := newSpoolFile(dir, date)
	if err != nil {
		return nil, err
	}
	d[date] = s
	return s, nil
}

func (d spoolDates) remove() {
	for _, s := range d {
		s.remove()
	}
}
