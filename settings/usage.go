package settings

import "fmt"

// UsageError marks a bad command line or configuration: herald exits 2 on it,
// 1 on any other error.
type UsageError struct{ Err error }

// Error returns the message of the error that says what is wrong.
func (e UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the error that says what is wrong.
func (e UsageError) Unwrap() error { return e.Err }

// Usagef formats a UsageError.
func Usagef(format string, a ...any) error { return UsageError{fmt.Errorf(format, a...)} }
