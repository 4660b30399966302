package load

import (
	"runtime"

	kzstd "github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
)

// pageZstd compresses Parquet pages with zstd at parquet-go's level, with
// a 1 MiB window instead of the library's 8 MiB: each page is compressed
// alone (pages are 64 KiB, a raw archive piece 1 MiB), so a larger window
// finds nothing more, while each encoder held twice its window of history
// (16 MiB), one encoder per table being finished at once: a tenth of a
// run's memory. Pages are read with parquet-go's own codec.
//
// At most one encoder per P exists; a page waits for a free one. Tables
// are finished eight at a time, and an idle pool of one per P built
// encoders for the other six on every partition, dropped them and built
// them again on the next (a tenth of a test run's CPU under the race
// detector): more encoders than cores compress no faster, and each holds
// megabytes. Not a sync.Pool either: the pool empties at every garbage
// collection.
type pageZstd struct {
	turns  chan struct{}       // one per encoder that may exist
	idle   chan *kzstd.Encoder // built, free: reused before another is built
	reader zstd.Codec
}

func newPageZstd() *pageZstd {
	n := runtime.GOMAXPROCS(0)
	return &pageZstd{turns: make(chan struct{}, n), idle: make(chan *kzstd.Encoder, n)}
}

func (c *pageZstd) String() string { return "ZSTD" }

func (c *pageZstd) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *pageZstd) Encode(dst, src []byte) ([]byte, error) {
	c.turns <- struct{}{}
	defer func() { <-c.turns }()
	var e *kzstd.Encoder
	select {
	case e = <-c.idle:
	default:
		var err error
		e, err = kzstd.NewWriter(nil,
			kzstd.WithEncoderConcurrency(1),
			kzstd.WithEncoderLevel(kzstd.SpeedDefault),
			kzstd.WithWindowSize(1<<20),
			kzstd.WithZeroFrames(true),
			kzstd.WithEncoderCRC(false),
		)
		if err != nil {
			return nil, err
		}
	}
	dst = e.EncodeAll(src, dst[:0])
	c.idle <- e // never blocks: no more than cap(turns) exist
	return dst, nil
}

func (c *pageZstd) Decode(dst, src []byte) ([]byte, error) { return c.reader.Decode(dst, src) }
