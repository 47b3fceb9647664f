// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultWatchInterval is how often WatchFile looks at the policy file when given no interval.
const DefaultWatchInterval = time.Second

// fileVersion identifies one version of the policy file: the file that its path resolves to
// through every symlink, and that file's device, inode, size and modification time. The zero
// value stands for a file that could not be looked at.
type fileVersion struct {
	target   string
	dev, ino uint64
	size     int64
	mtime    int64 // nanoseconds
}

// statVersion looks at the file path resolves to. A Kubernetes ConfigMap volume mounts
// path as a symlink, dir/policy.yaml -> ..data/policy.yaml, where ..data is itself a symlink
// to a timestamped directory that an update replaces with one rename: the resolved target, and
// so the inode, change with every update while path's own lstat never does.
func statVersion(path string) fileVersion {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fileVersion{}
	}
	fi, err := os.Stat(target)
	if err != nil {
		return fileVersion{}
	}
	dev, ino := fileID(fi)
	return fileVersion{target: target, dev: dev, ino: ino, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// WatchFile reloads the store whenever its policy file changes, until stop is called. Every
// interval (DefaultWatchInterval if not positive) it resolves the file's path through its
// symlinks and compares the target's path, inode, size and modification time with those of
// the version last loaded, so an edit in place, a file replaced by rename, and a Kubernetes
// ConfigMap update (an atomic swap of the ..data symlink) are all seen. A changed file is
// reloaded once (Reload): a bad one keeps the last good policy and is counted in Status and
// reported to OnReload, and is not tried again until it changes again.
//
// onReload, if not nil, is called after each reload with its result (nil, or the error).
// With a nil onReload, WatchFile logs each reload to slog.Default(): a failure at Error,
// with the file and the library's message, and a success at Info. stop waits for a reload in
// progress to finish.
//
// An edit that keeps the file's size and lands within the file system's timestamp
// granularity of the previous one is not seen; a reload by Reload or WatchSIGHUP still is.
func (s *Store) WatchFile(interval time.Duration, onReload func(error)) (stop func()) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	if onReload == nil {
		onReload = func(err error) { logReload(s.path, err) }
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if s.closed.Load() {
					return
				}
				if s.changed() {
					onReload(s.Reload())
				}
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// changed reports whether the policy file is not the version the store last tried to load.
func (s *Store) changed() bool {
	v := statVersion(s.path)
	s.mu.Lock()
	defer s.mu.Unlock()
	return v != s.seen
}

// logReload is WatchFile's report of a reload without an onReload function.
func logReload(path string, err error) {
	if err != nil {
		slog.Default().LogAttrs(context.Background(), slog.LevelError,
			"mtlsauthz: policy reload failed; keeping the last good policy",
			slog.String("policy", path), slog.String("err", err.Error()))
		return
	}
	slog.Default().LogAttrs(context.Background(), slog.LevelInfo, "mtlsauthz: policy reloaded",
		slog.String("policy", path))
}
