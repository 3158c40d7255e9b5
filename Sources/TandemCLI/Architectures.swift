import ArgumentParser
import TandemNN

extension Tandem {
  struct Architectures: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "architectures",
      abstract: "List the reference architectures and their parameter counts.")

    @Option(help: "Feature count for the churn models.") var features = 45

    func run() throws {
      for name in ModelName.allCases {
        let model = try Model.reference(name, features: features, seed: 0)
        let input = model.sampleShape.map(String.init).joined(separator: "x")
        printNow("\(name.rawValue)\tinput \(input)\t\(model.parameterCount) parameters")
      }
    }
  }
}
