# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

module MtlsAuthz
  # How PolicyHolder#watch tells that a policy file changed: by what the path resolves to
  # now, not by an event (inotify misses a Kubernetes ConfigMap update, which swaps a symlink
  # by rename(2) and never writes the file the watch was set on).
  module FileWatch
    # What `path` is now: the target it resolves to through every symlink, with that file's
    # device, inode, size, mtime and ctime (to the nanosecond where the file system has them).
    # Any change of content, an atomic rename over the file, and a ConfigMap's
    # `..data -> ..2026_...` swap each give a different value. A path that does not resolve
    # gives [:missing, the error's class name].
    def self.signature(path)
      st = File.stat(path) # follows the symlinks in one call: the file the path names now
      real = begin
        File.realpath(path)
      rescue SystemCallError
        nil
      end
      [real, st.dev, st.ino, st.size, st.mtime, st.ctime].freeze
    rescue SystemCallError => e
      [:missing, e.class.name].freeze
    end
  end
end
