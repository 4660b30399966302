package load

import (
	"sync"

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
type pageZstd struct {
	encoders sync.Pool
	reader   zstd.Codec
}

func (c *pageZstd) String() string { return "ZSTD" }

func (c *pageZstd) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *pageZstd) Encode(dst, src []byte) ([]byte, error) {
	e, _ := c.encoders.Get().(*kzstd.Encoder)
	if e == nil {
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
	defer c.encoders.Put(e)
	return e.EncodeAll(src, dst[:0]), nil
}

func (c *pageZstd) Decode(dst, src []byte) ([]byte, error) { return c.reader.Decode(dst, src) }
