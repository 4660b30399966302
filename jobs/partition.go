package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// partition is one (tenant, dataset, date) being rewritten: the manifest it
// started from, local copies of the committed files it reads, and the new
// manifest once committed.
type partition struct {
	r       *runner
	dataset string
	date    string
	tables  []string
	prev    Manifest
	etag    string // of prev; empty when there was none
	next    Manifest

	mu     sync.Mutex        // guards copies: tables are carried over at once
	copies map[string]string // key -> local path
}

func (r *runner) openPartition(ctx context.Context, dataset, date string) (*partition, error) {
	p := &partition{r: r, dataset: dataset, date: date, copies: map[string]string{}}
	for _, t := range schemas.Tables {
		if t.Dataset == dataset {
			p.tables = append(p.tables, t.Name)
		}
	}
	etag, _, err := readJSON(ctx, r.store, manifestKey(r.cfg.TenantID, dataset, date), &p.prev)
	if err != nil {
		return nil, err
	}
	p.etag = etag
	return p, nil
}

// local returns a local copy of a committed data file, downloading it once.
func (p *partition) local(ctx context.Context, key string) (string, error) {
	p.mu.Lock()
	path, ok := p.copies[key]
	p.mu.Unlock()
	if ok {
		return path, nil
	}
	path, err := load.Download(ctx, p.r.store, key, p.r.tmp)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", key, err)
	}
	p.mu.Lock()
	p.copies[key] = path
	p.mu.Unlock()
	return path, nil
}

// forget removes the local copy of key once it has been read for the last time.
func (p *partition) forget(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if path, ok := p.copies[key]; ok {
		os.Remove(path)
		delete(p.copies, key)
	}
}

func (p *partition) cleanup() {
	p.mu.Lock()
	keys := make([]string, 0, len(p.copies))
	for key := range p.copies {
		keys = append(keys, key)
	}
	p.mu.Unlock()
	for _, key := range keys {
		p.forget(key)
	}
}

// commit uploads the new files, then writes the new manifest with compare-and-swap
// over the one this partition started from, then deletes what the new manifest no
// longer names. A crash before the manifest leaves unnamed files, which the next
// rewrite of this partition deletes.
func (p *partition) commit(ctx context.Context, files map[string][]load.LocalFile, log *slog.Logger) error {
	r := p.r
	p.next = Manifest{
		Tenant: r.cfg.TenantID, Dataset: p.dataset, Date: p.date, RunID: r.cfg.RunID,
		Tables: map[string][]ManifestFile{},
	}
	for _, table := range p.tables {
		for i, lf := range files[table] {
			key := dataKey(table, p.date, r.cfg.TenantID, r.cfg.RunID, i)
			if err := putFile(ctx, r.store, key, lf.Path); err != nil {
				return err
			}
			p.next.Tables[table] = append(p.next.Tables[table], ManifestFile{Key: key, Rows: lf.Rows, Bytes: lf.Bytes})
			r.sum.addFile(table, lf.Rows, lf.Bytes)
			if table == p.tables[0] {
				p.next.Records += lf.Rows
			}
		}
	}
	p.next.CommittedAt = r.cfg.Now().UTC()
	if _, err := writeJSON(ctx, r.store, manifestKey(r.cfg.TenantID, p.dataset, p.date), p.etag, p.next); err != nil {
		if errors.Is(err, load.ErrPrecondition) {
			return fmt.Errorf("commit partition %s: another run changed it meanwhile: %w", p.date, err)
		}
		return fmt.Errorf("commit partition %s: %w", p.date, err)
	}
	p.prev, p.etag = p.next, ""
	return p.removeOrphans(ctx, log)
}

// removeOrphans deletes this tenant's data files in the partition's table folders
// that the committed manifest does not name: files it replaced, and files left by
// a run that stopped before its commit.
func (p *partition) removeOrphans(ctx context.Context, log *slog.Logger) error {
	r := p.r
	named := map[string]bool{}
	for _, files := range p.prev.Tables {
		for _, f := range files {
			named[f.Key] = true
		}
	}
	for _, table := range p.tables {
		var doomed []string
		err := r.store.List(ctx, partitionPrefix(table, p.date), func(o load.Object) error {
			if ownedBy(o.Key, r.cfg.TenantID) && !named[o.Key] {
				doomed = append(doomed, o.Key)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("list partition %s/%s: %w", table, p.date, err)
		}
		for _, key := range doomed {
			if err := r.store.Delete(ctx, key); err != nil {
				return fmt.Errorf("delete %s: %w", key, err)
			}
			log.Debug("deleted replaced file", "key", key)
		}
	}
	return nil
}

func putFile(ctx context.Context, s load.Sink, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	defer f.Close()
	if err := s.Put(ctx, key, f); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}
