package lake

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// ErrConflict: a partition changed between the moment a run read it and its
// commit, which only another writer can do (the lease was lost).
var ErrConflict = errors.New("partition changed meanwhile: another run wrote it")

// Partition is one day of one dataset of the tenant, being rewritten. Each
// table of the dataset is one object, TableKey: a reader globbing the table
// folders sees, for each table, the previous content or the next, never both
// and never part of one. The tables of a dataset are committed one after the
// other, the first table (the parent: call_records) last, so that a reader
// joining them never finds a parent row without its children.
//
// A Partition is safe for concurrent use by one goroutine per table.
type Partition struct {
	l       *Lake
	dataset string
	date    string
	tables  []string // parent first

	mu     sync.Mutex
	state  map[string]*object // by table
	copies map[string]string  // key -> local copy
	legacy *legacyManifest    // written by an earlier version of the job
	// legacyLeft: a rewrite replaced the earlier version's files, which
	// were not all deleted yet.
	legacyLeft bool
	rows       int64 // of the parent table, committed
}

// object is what the partition knows of a table's committed object.
type object struct {
	known  bool // whether exists and etag were read
	exists bool
	etag   string
}

// Partition opens the partition of dataset and date, whose tables are tables,
// the parent (the one whose rows count the records) first. It reads the
// parent's committed object (a local copy, for Rows and for reading).
func (l *Lake) Partition(ctx context.Context, dataset, date string, tables ...string) (*Partition, error) {
	if len(tables) == 0 {
		return nil, fmt.Errorf("partition %s/%s: no tables", dataset, date)
	}
	p := &Partition{l: l, dataset: dataset, date: date, tables: tables,
		state: map[string]*object{}, copies: map[string]string{}}
	for _, t := range tables {
		p.state[t] = &object{}
	}
	legacy, err := l.legacyManifest(ctx, dataset, date)
	if err != nil {
		return nil, err
	}
	parent := TableKey(tables[0], date, l.tenant)
	path, err := p.Local(ctx, parent)
	switch {
	case err == nil:
		if p.rows, err = load.ParquetRows(path); err != nil {
			p.Cleanup()
			return nil, fmt.Errorf("read %s: %w", parent, err)
		}
		p.legacyLeft = legacy
	case errors.Is(err, load.ErrNotExist) && legacy:
		if err := p.readLegacy(ctx); err != nil {
			return nil, err
		}
	case errors.Is(err, load.ErrNotExist):
	default:
		return nil, err
	}
	return p, nil
}

// Date is the partition's day, YYYY-MM-DD.
func (p *Partition) Date() string { return p.date }

// Has reports whether table is one of the partition's tables (those it
// reads and commits).
func (p *Partition) Has(table string) bool {
	_, ok := p.state[table]
	return ok
}

// Legacy reports whether the partition holds files of an earlier version of
// the job, which only a rewrite (Commit) removes.
func (p *Partition) Legacy() bool { return p.legacy != nil || p.legacyLeft }

// Rows is the number of rows of the parent table as committed: for call
// records, the number of records.
func (p *Partition) Rows() int64 { return p.rows }

// Files lists the committed objects that hold table's rows: none, its
// object, or (a partition of an earlier version of the job) several.
func (p *Partition) Files(ctx context.Context, table string) ([]string, error) {
	if p.legacy != nil {
		var keys []string
		for _, f := range p.legacy.Tables[table] {
			keys = append(keys, f.Key)
		}
		return keys, nil
	}
	st, err := p.object(ctx, table)
	if err != nil || !st.exists {
		return nil, err
	}
	return []string{TableKey(table, p.date, p.l.tenant)}, nil
}

// object returns what is known of table's object, asking the store if need be.
func (p *Partition) object(ctx context.Context, table string) (object, error) {
	p.mu.Lock()
	st := *p.state[table]
	p.mu.Unlock()
	if st.known {
		return st, nil
	}
	key := TableKey(table, p.date, p.l.tenant)
	etag, err := p.l.store.Head(ctx, key)
	switch {
	case errors.Is(err, load.ErrNotExist):
		st = object{known: true}
	case err != nil:
		return object{}, fmt.Errorf("read %s: %w", key, err)
	default:
		st = object{known: true, exists: true, etag: etag}
	}
	p.mu.Lock()
	*p.state[table] = st
	p.mu.Unlock()
	return st, nil
}

// Local returns a local copy of a committed object, downloading it once; the
// error matches load.ErrNotExist if there is none. The version copied is the
// one Commit replaces.
func (p *Partition) Local(ctx context.Context, key string) (string, error) {
	p.mu.Lock()
	path, ok := p.copies[key]
	p.mu.Unlock()
	if ok {
		return path, nil
	}
	table := p.tableOf(key)
	path, etag, err := load.Download(ctx, p.l.store, key, p.l.tmp)
	if table != "" && (err == nil || errors.Is(err, load.ErrNotExist)) {
		p.mu.Lock()
		*p.state[table] = object{known: true, exists: err == nil, etag: etag}
		p.mu.Unlock()
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	p.mu.Lock()
	p.copies[key] = path
	p.mu.Unlock()
	return path, nil
}

// tableOf is the table whose object key is, or "" (a file of a legacy
// partition).
func (p *Partition) tableOf(key string) string {
	for _, t := range p.tables {
		if key == TableKey(t, p.date, p.l.tenant) {
			return t
		}
	}
	return ""
}

// Forget removes the local copy of key once it has been read for the last time.
func (p *Partition) Forget(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if path, ok := p.copies[key]; ok {
		os.Remove(path)
		delete(p.copies, key)
	}
}

// Cleanup removes every local copy.
func (p *Partition) Cleanup() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, path := range p.copies {
		os.Remove(path)
		delete(p.copies, key)
	}
}

// Commit makes files (by table; a table missing or with no Path has no rows
// now) the partition's content. Each table's object is replaced with one
// conditional write over the version the partition read (created if there was
// none, deleted if the table has no rows now); the children tables at once,
// then the parent. If a write finds the object changed, which only another
// run can do, the error matches ErrConflict and the run must stop. A run that
// dies part-way leaves every table whole, some at the new content: the next
// run over the same window refetches the records whose parent row is not at
// their new version, and rewrites them all. The files must not be written to
// afterwards: a local store takes them as they are ([load.HandOver]).
func (p *Partition) Commit(ctx context.Context, files map[string]load.LocalFile) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, t := range p.tables[1:] {
		g.Go(func() error { return p.commitTable(gctx, t, files[t].Path) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	parent := p.tables[0]
	if err := p.commitTable(ctx, parent, files[parent].Path); err != nil {
		return err
	}
	p.rows = files[parent].Rows
	if p.legacy != nil || p.legacyLeft {
		p.legacy, p.legacyLeft = nil, true
		if err := p.removeLegacy(ctx); err != nil {
			return err
		}
		p.legacyLeft = false
	}
	return nil
}

// commitTable replaces table's object with the file at path ("" for none).
func (p *Partition) commitTable(ctx context.Context, table, path string) error {
	key := TableKey(table, p.date, p.l.tenant)
	st, err := p.object(ctx, table)
	if err != nil {
		return err
	}
	var etag string
	switch {
	case path == "" && !st.exists:
		return nil
	case path == "":
		err = p.l.store.DeleteIfMatch(ctx, key, st.etag)
	default:
		var f *os.File
		if f, err = os.Open(path); err != nil {
			return fmt.Errorf("commit %s: %w", key, err)
		}
		// The file is ours to give: written for this commit, removed after.
		if st.exists {
			etag, err = p.l.store.PutIfMatch(ctx, key, load.HandOver{File: f}, st.etag)
		} else {
			etag, err = p.l.store.PutIfAbsent(ctx, key, load.HandOver{File: f})
		}
		f.Close()
	}
	if errors.Is(err, load.ErrPrecondition) || (st.exists && errors.Is(err, load.ErrNotExist)) {
		return fmt.Errorf("commit %s: %w", key, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("commit %s: %w", key, err)
	}
	p.mu.Lock()
	*p.state[table] = object{known: true, exists: path != "", etag: etag}
	p.mu.Unlock()
	return nil
}

// Partitions written by earlier versions of the job (before one object per
// table, day and tenant) hold several files per table,
// <table>/dt=<date>/<tenant>_<run>_<part>.parquet, named by a manifest under
// _etl/manifests/. Such a partition is read through its manifest, and its
// files and manifest are deleted once its first rewrite is committed.

type legacyManifest struct {
	Records int64 `json:"records"`
	Tables  map[string][]struct {
		Key string `json:"key"`
	} `json:"tables"`
}

func legacyManifestKey(tenant, dataset, date string) string {
	return fmt.Sprintf("%smanifests/%s/%s/%s.json", etlPrefix, tenant, dataset, date)
}

// legacyManifest reports whether an earlier version's manifest exists for
// the partition; the tenant's manifests are listed once per Lake.
func (l *Lake) legacyManifest(ctx context.Context, dataset, date string) (bool, error) {
	l.legacyMu.Lock()
	defer l.legacyMu.Unlock()
	if l.legacyKeys == nil {
		keys := map[string]bool{}
		err := l.store.List(ctx, etlPrefix+"manifests/"+l.tenant+"/", func(o load.Object) error {
			keys[o.Key] = true
			return nil
		})
		if err != nil {
			return false, fmt.Errorf("list manifests of an earlier version: %w", err)
		}
		l.legacyKeys = keys
	}
	return l.legacyKeys[legacyManifestKey(l.tenant, dataset, date)], nil
}

// readLegacy reads the partition's manifest of an earlier version.
func (p *Partition) readLegacy(ctx context.Context) error {
	var m legacyManifest
	_, found, err := readJSON(ctx, p.l.store, legacyManifestKey(p.l.tenant, p.dataset, p.date), &m)
	if err != nil || !found {
		return err
	}
	p.legacy, p.rows = &m, m.Records
	return nil
}

// removeLegacy deletes the files an earlier version of the job wrote for this
// partition (those its manifest named, and any a crashed run of it left),
// then the manifest.
func (p *Partition) removeLegacy(ctx context.Context) error {
	for _, table := range p.tables {
		var doomed []string
		err := p.l.store.List(ctx, fmt.Sprintf("%s/dt=%s/", table, p.date), func(o load.Object) error {
			if name := path.Base(o.Key); strings.HasPrefix(name, p.l.tenant+"_") && strings.HasSuffix(name, ".parquet") {
				doomed = append(doomed, o.Key)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("list %s/dt=%s: %w", table, p.date, err)
		}
		for _, key := range doomed {
			if err := p.l.store.Delete(ctx, key); err != nil {
				return fmt.Errorf("delete %s: %w", key, err)
			}
		}
	}
	key := legacyManifestKey(p.l.tenant, p.dataset, p.date)
	if err := p.l.store.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	p.l.legacyMu.Lock()
	delete(p.l.legacyKeys, key)
	p.l.legacyMu.Unlock()
	return nil
}
