// SPDX-License-Identifier: Apache-2.0

//go:build !unix

package mtlsauthz

import "os"

// fileID is 0, 0 where the file system has no inodes to compare; WatchFile then goes by the
// resolved path, size and modification time.
func fileID(os.FileInfo) (dev, ino uint64) { return 0, 0 }
