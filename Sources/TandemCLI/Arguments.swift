import ArgumentParser
import TandemData
import TandemTensor

// Domain values parsed straight from the command line, so a bad one is a
// usage error (exit 64) that lists the choices.

extension NumericPath: ExpressibleByArgument {}

extension Split: ExpressibleByArgument {
  public init?(argument: String) { self.init(name: argument) }
  public static var allValueStrings: [String] { names }
  public var defaultValueDescription: String { description }
}
