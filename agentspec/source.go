package agentspec

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
)

// HashSource returns the "deep" checksum of a tool's code, for
// source_sha256: 64 lowercase hex digits of SHA-256 over the regular files
// named by paths (directories are walked recursively), in ascending byte
// order of their slash-separated fs.FS paths, each contributing
//
//	path || 0x00 || decimal length of content || 0x00 || content
//
// The framing makes the file set unambiguous: moving bytes from one file to
// the next, or renaming a file, changes the hash. A path named twice (or
// inside a named directory) counts once. Symbolic links and other
// non-regular files met while walking are refused rather than skipped or
// followed, so that nothing outside the hashed set can change the tool's
// behaviour unseen; an empty file set is refused too.
func HashSource(fsys fs.FS, paths ...string) (string, error) {
	if len(paths) == 0 {
		return "", errors.New("checksum: HashSource needs at least one path")
	}
	files, err := collectFiles(fsys, paths)
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", errors.New("checksum: HashSource found no files")
	}
	h := sha256.New()
	for _, p := range files {
		if err := hashFile(h, fsys, p); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// HashSourceDir hashes every file under dir (paths relative to dir).
func HashSourceDir(dir string) (string, error) {
	return HashSource(os.DirFS(dir), ".")
}

func collectFiles(fsys fs.FS, paths []string) ([]string, error) {
	var files []string
	for _, root := range paths {
		err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.Type().IsRegular():
				files = append(files, p)
			case !d.IsDir():
				return fmt.Errorf("checksum: %s: not a regular file or directory (%s)", p, d.Type())
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// hashFile streams one framed file into h; a file whose size changes while
// it is read is an error, not a silently different hash.
func hashFile(h hash.Hash, fsys fs.FS, p string) error {
	f, err := fsys.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	size := info.Size()
	h.Write([]byte(p))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, size, 10))
	h.Write([]byte{0})
	n, err := io.Copy(h, io.LimitReader(f, size+1))
	if err != nil {
		return fmt.Errorf("checksum: %s: %w", p, err)
	}
	if n != size {
		return fmt.Errorf("checksum: %s changed while it was hashed", p)
	}
	return nil
}
