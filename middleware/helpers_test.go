package middleware_test

import (
	"crypto"
	"errors"
	"strconv"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

type cryptoHash0 struct{}

func (cryptoHash0) HashFunc() crypto.Hash { return 0 }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
