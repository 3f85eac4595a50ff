package checksum

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strconv"
)

// HashSource returns the "deep" checksum of a tool's code for
// source_sha256: SHA-256 (64 lowercase hex) over the named files of fsys,
// directories walked recursively, in sorted path order, each contributing
// path || 0x00 || decimal length || 0x00 || content. The path and length
// framing means no two different file sets hash alike by concatenation.
func HashSource(fsys fs.FS, paths ...string) (string, error) {
	if len(paths) == 0 {
		return "", errors.New("checksum: HashSource needs at least one path")
	}
	files, err := collectFiles(fsys, paths)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, p := range files {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return "", err
		}
		h.Write([]byte(p))
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(len(data))))
		h.Write([]byte{0})
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// HashSourceDir hashes every file under dir.
func HashSourceDir(dir string) (string, error) {
	return HashSource(os.DirFS(dir), ".")
}

func collectFiles(fsys fs.FS, paths []string) ([]string, error) {
	var files []string
	for _, root := range paths {
		err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				files = append(files, p)
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
