//go:build !unix || aix || (solaris && !illumos)

package load

import "os"

// lockFile only makes sure the lock file exists: on systems without flock(2)
// (Windows, Solaris, AIX among them) a LocalStore serialises conditional operations
// within one process only.
func lockFile(name string) (unlock func(), err error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}
