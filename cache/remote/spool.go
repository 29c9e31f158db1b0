package remote

import (
	"bytes"
	"io"
	"os"
)

// memSpool is the size up to which a spooled stream stays in memory.
const memSpool = 4 << 20

// spool holds a copy of a stream: in memory while it is small, in an
// anonymous temporary file beyond. The zero value, with dir set, is ready.
type spool struct {
	dir string // for the temporary file; "" means os.TempDir
	buf bytes.Buffer
	f   *tempFile
	n   int64
}

// Write implements io.Writer.
func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil && s.buf.Len()+len(p) <= memSpool {
		s.n += int64(len(p))
		return s.buf.Write(p)
	}
	if s.f == nil {
		f, err := newTempFile(s.dir)
		if err != nil {
			return 0, err
		}
		s.f = f
		if _, err := f.Write(s.buf.Bytes()); err != nil {
			return 0, err
		}
		s.buf = bytes.Buffer{}
	}
	n, err := s.f.Write(p)
	s.n += int64(n)
	return n, err
}

// Len returns the number of bytes written.
func (s *spool) Len() int64 { return s.n }

// reader returns the content from its start. Closing the reader releases
// the spool.
func (s *spool) reader() (io.ReadSeekCloser, error) {
	if s.f == nil {
		return nopSeekCloser{bytes.NewReader(s.buf.Bytes())}, nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		s.f.Close()
		return nil, err
	}
	return s.f, nil
}

// discard releases the spool when its content is not wanted.
func (s *spool) discard() {
	if s.f != nil {
		s.f.Close()
	}
	s.buf = bytes.Buffer{}
}

type nopSeekCloser struct{ *bytes.Reader }

func (nopSeekCloser) Close() error { return nil }

// tempFile is a temporary file that is gone once closed. It is unlinked
// at once where the system allows it, so that a crash leaves nothing.
type tempFile struct {
	*os.File
	unlinked bool
}

func newTempFile(dir string) (*tempFile, error) {
	f, err := os.CreateTemp(dir, "buildnet-remote-*")
	if err != nil {
		return nil, err
	}
	return &tempFile{File: f, unlinked: os.Remove(f.Name()) == nil}, nil
}

// Close closes and removes the file.
func (t *tempFile) Close() error {
	err := t.File.Close()
	if !t.unlinked {
		os.Remove(t.Name())
	}
	return err
}
