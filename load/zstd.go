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
// Idle encoders wait in a channel, one per P at most, not a sync.Pool: the
// pool empties at every garbage collection (and drops a quarter of its puts
// under the race detector), and an encoder's tables and history cost more to
// allocate again than most pages cost to compress.
type pageZstd struct {
	idle   chan *kzstd.Encoder
	reader zstd.Codec
}

func newPageZstd() *pageZstd {
	return &pageZstd{idle: make(chan *kzstd.Encoder, runtime.GOMAXPROCS(0))}
}

func (c *pageZstd) String() string { return "ZSTD" }

func (c *pageZstd) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *pageZstd) Encode(dst, src []byte) ([]byte, error) {
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
	select {
	case c.idle <- e:
	default: // enough are idle already
	}
	return dst, nil
}

func (c *pageZstd) Decode(dst, src []byte) ([]byte, error) { return c.reader.Decode(dst, src) }
