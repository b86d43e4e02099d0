package main

import (
	"errors"
	"fmt"
)

// errWindowsOnly is the one-line error of what only Windows has.
func errWindowsOnly(what string) error {
	return fmt.Errorf("%s Windows only: %w", what, errors.ErrUnsupported)
}
