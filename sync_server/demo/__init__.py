"""The fictional demo organisation and the `relais demo` launcher."""
