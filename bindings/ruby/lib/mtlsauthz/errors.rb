# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

module MtlsAuthz
  # Base class of every error the gem raises. #code is the C library's MTLSAUTHZ_E* code
  # (negative), or nil for errors raised by the binding itself.
  class Error < StandardError
    attr_reader :code

    def initialize(message = nil, code: nil)
      super(message)
      @code = code
    end

    # The symbolic name of #code ("MTLSAUTHZ_EPOLICY"), or nil.
    def code_name
      code && Lib.mtlsauthz_errname(code)
    end
  end

  # A policy failed to load. The message is the C library's, naming the key, rule, principal
  # or pattern, and starting with where it is: "FILE:LINE:COLUMN: text" for Policy.load_file
  # ("FILE: text" when no position applies), "LINE:COLUMN: text" for Policy.load
  # (docs/policy.md, "Errors"). The same position, as attributes:
  #   #file    the path given to Policy.load_file (nil for Policy.load)
  #   #line    the 1-based line of the YAML node at fault, or nil
  #   #column  its 1-based column, or nil
  class PolicyError < Error
    attr_reader :file, :line, :column

    def initialize(message = nil, code: nil, file: nil, line: nil, column: nil)
      super(message, code: code)
      @file = file
      @line = line
      @column = column
    end
  end

  # A certificate could not be read into an identity.
  class IdentityError < Error; end

  # The core refused an HTTP request target or method (the Rack middleware answers 400).
  class OperationError < Error; end

  # The policy was closed; decisions on it are denied.
  class ClosedError < Error; end

  # The shared library could not be found or loaded.
  class LibraryNotFound < ::LoadError; end

  # The loaded library's struct layouts or constants are not the ones this gem copies (a gem
  # and a library from different releases): raised by `require "mtlsauthz"`, before anything
  # is called. #mismatches lists [what, the library's value, the gem's value].
  class ABIMismatch < ::LoadError
    attr_reader :mismatches

    def initialize(message = nil, mismatches = [])
      super(message)
      @mismatches = mismatches.freeze
    end
  end
end
