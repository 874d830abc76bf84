package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxLineLen is the longest line a Reader returns; longer ones are skipped.
const MaxLineLen = 64 << 10

// maxSkippedKept is how many over-long lines a Reader keeps a LineError for.
const maxSkippedKept = 100

// readBufSize is the size of a Reader's buffers: room for many lines per
// read, and for any line it returns.
const readBufSize = 256 << 10

// Reader yields the lines of its inputs in order, each with its file and
// line number (counted from 1 in each file, skipped lines included). A
// Source is a file path, or "-" for stdin; a file whose name ends in .gz or
// whose content starts with the gzip magic number is gunzipped. Next skips
// and counts lines that are empty (or blank) and lines longer than 64 KiB.
// Files are opened one at a time, as Next reaches them. A Reader is not safe
// for concurrent use.
type Reader struct {
	paths []string
	stdin io.Reader
	next  int // index in paths of the next input to open

	file   string
	n      int
	f      *os.File // the open file, nil for stdin
	gz     *gzip.Reader
	raw    *bufio.Reader // over the file
	text   *bufio.Reader // over the gunzipped file, or raw
	reader *bufio.Reader // the one lines come from; nil between inputs

	err         error
	empty, long int
	skipped     []*LineError
	closed      bool
}

// errTooLong is the error of a skipped over-long line.
var errTooLong = errors.New("line longer than 64 KiB")

// Open returns a Reader over paths, read in order; "-" is stdin, which may
// appear once. Every path must name a readable regular file (or a pipe):
// Open checks them all up front, so a typo fails before any work, with an
// error that names the path.
func Open(paths []string, stdin io.Reader) (*Reader, error) {
	if len(paths) == 0 {
		return nil, errors.New("no input: name files, or - for stdin")
	}
	seenStdin := false
	for _, p := range paths {
		if p == "-" {
			if seenStdin {
				return nil, errors.New("stdin (-) named more than once")
			}
			if stdin == nil {
				return nil, errors.New("stdin (-) named but there is no stdin")
			}
			seenStdin = true
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err // *fs.PathError: "stat PATH: ..."
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("%s: is a directory", p)
		}
	}
	return &Reader{paths: paths, stdin: stdin}, nil
}

// Next returns the next line, without its line ending ("\n" or "\r\n")
// and, for a file's first line, without a UTF-8 byte order mark, as a fresh
// string, with the name of its file ("stdin" for "-") and its line
// number. ok is false at the end of the inputs or after an I/O error (see
// Err).
func (r *Reader) Next() (line string, file string, n int, ok bool) {
	for {
		if r.reader == nil {
			if r.err != nil || r.closed || !r.open() {
				return "", "", 0, false
			}
		}
		b, err := r.reader.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			r.n++
			r.skip()
			if r.err != nil {
				return "", "", 0, false
			}
			continue
		}
		if err != nil && err != io.EOF {
			r.fail(err)
			return "", "", 0, false
		}
		if len(b) == 0 { // end of this input
			r.closeInput()
			continue
		}
		r.n++
		b = bytes.TrimSuffix(b, []byte{'\n'})
		b = bytes.TrimSuffix(b, []byte{'\r'})
		if r.n == 1 {
			b = bytes.TrimPrefix(b, []byte("\uFEFF"))
		}
		switch {
		case len(b) > MaxLineLen:
			r.tooLong()
		case len(bytes.TrimSpace(b)) == 0:
			r.empty++
		default:
			return string(b), r.file, r.n, true
		}
		if err == io.EOF {
			r.closeInput()
		}
	}
}

// skip discards the rest of an over-long line.
func (r *Reader) skip() {
	r.tooLong()
	for {
		_, err := r.reader.ReadSlice('\n')
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil:
		case io.EOF:
			r.closeInput()
		default:
			r.fail(err)
		}
		return
	}
}

func (r *Reader) tooLong() {
	r.long++
	if len(r.skipped) < maxSkippedKept {
		r.skipped = append(r.skipped, &LineError{File: r.file, Line: r.n, Err: errTooLong})
	}
}

// open opens the next input, reporting false when there is none or it
// cannot be opened.
func (r *Reader) open() bool {
	if r.next >= len(r.paths) {
		return false
	}
	path := r.paths[r.next]
	r.next++
	r.n = 0
	var src io.Reader
	if path == "-" {
		r.file, src = "stdin", r.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			r.err = err
			return false
		}
		r.file, r.f, src = path, f, f
	}
	if r.raw == nil {
		r.raw = bufio.NewReaderSize(src, readBufSize)
	} else {
		r.raw.Reset(src)
	}
	r.reader = r.raw
	magic, _ := r.raw.Peek(2)
	if strings.HasSuffix(path, ".gz") || bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(r.raw)
		if err == io.EOF { // an empty file
			return true
		}
		if err != nil {
			r.fail(err)
			return false
		}
		r.gz = gz
		if r.text == nil {
			r.text = bufio.NewReaderSize(gz, readBufSize)
		} else {
			r.text.Reset(gz)
		}
		r.reader = r.text
	}
	return true
}

// fail records err, the first I/O error, naming the input, and stops.
func (r *Reader) fail(err error) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %w", r.file, err)
	}
	r.closeInput()
}

func (r *Reader) closeInput() {
	r.reader = nil
	if r.gz != nil {
		r.gz.Close()
		r.gz = nil
	}
	if r.f != nil {
		if err := r.f.Close(); err != nil && r.err == nil {
			r.err = err
		}
		r.f = nil
	}
}

// Err returns the first I/O error Next met, or nil. Lines that do not
// parse are not I/O errors; over-long lines are not either (see Skipped).
func (r *Reader) Err() error { return r.err }

// Skipped reports the lines Next did not return: how many were empty, how
// many were longer than 64 KiB, and a LineError for each of the first 100
// of those.
func (r *Reader) Skipped() (empty, tooLong int, errs []*LineError) {
	return r.empty, r.long, r.skipped
}

// Close closes the open input; Next then reports the end. Close does not
// close stdin.
func (r *Reader) Close() error {
	r.closed = true
	r.closeInput()
	return nil
}
