# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

module MtlsAuthz
  # A small thread-safe LRU map (Ruby Hashes keep insertion order: a hit moves the key to
  # the end, an insert past the limit drops the first). Used for the identity cache.
  class LRU
    attr_reader :max_size

    def initialize(max_size)
      unless max_size.is_a?(Integer) && max_size.positive?
        raise ArgumentError, "max_size must be a positive Integer"
      end

      @max_size = max_size
      @map = {}
      @lock = Mutex.new
    end

    # The value for key; on a miss, the block's value, stored. The block runs outside the
    # lock (two threads may both compute a missing value; the first stored wins).
    def fetch(key)
      v = @lock.synchronize do
        hit = @map.delete(key)
        @map[key] = hit unless hit.nil?
        hit
      end
      return v unless v.nil?

      v = yield
      @lock.synchronize do
        existing = @map[key]
        return existing unless existing.nil?

        @map[key] = v
        @map.shift while @map.size > @max_size
      end
      v
    end

    def size
      @lock.synchronize { @map.size }
    end

    def key?(key)
      @lock.synchronize { @map.key?(key) }
    end

    def clear
      @lock.synchronize { @map.clear }
    end
  end
end
