import TandemTensor

/// Limited-memory BFGS (Nocedal and Wright, algorithm 7.4) with a
/// backtracking Armijo line search: the full-batch solver for small convex
/// models (logistic regression), where it reaches the optimum in tens of
/// passes over the data instead of the thousands of steps SGD takes.
///
/// The objective is a closure that computes the loss at the parameters'
/// current values and leaves its gradient in each `Parameter.gradient`.
/// Directions, steps and curvature pairs are kept in Float64, parameters in
/// Float32; every operation is in a fixed order, so a deterministic objective
/// gives the same iterates on every machine.
public final class LBFGS {
  public let memory: Int
  /// Converged when the largest gradient entry is at most this.
  public let tolerance: Double
  private var pairs: [(s: [Double], y: [Double], rho: Double)] = []

  public init(memory: Int = 10, tolerance: Double = 1e-4) {
    invariant(memory > 0 && tolerance >= 0, "L-BFGS needs a positive memory and a non-negative tolerance")
    self.memory = memory
    self.tolerance = tolerance
  }

  public struct Result: Sendable, Equatable {
    public var iterations: Int
    public var evaluations: Int
    public var converged: Bool
    /// The objective after each iteration, the first entry at the start.
    public var objectives: [Double]
  }

  public func minimize(_ parameters: [Parameter], maxIterations: Int,
                       objective: () throws -> Double) rethrows -> Result {
    func flat(_ key: KeyPath<Parameter, Tensor>) -> [Double] { parameters.flatMap { $0[keyPath: key].scalars.map(Double.init) } }
    func set(_ x: [Double]) {
      var offset = 0
      for p in parameters {
        p.value = Tensor(uncheckedShape: p.value.shape, scalars: x[offset..<offset + p.count].map { Float($0) })
        offset += p.count
      }
    }
    func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    pairs = []
    var f = try objective()
    var evaluations = 1
    var x = flat(\.value), g = flat(\.gradient)
    var result = Result(iterations: 0, evaluations: 1, converged: false, objectives: [f])
    while result.iterations < maxIterations {
      if g.allSatisfy({ abs($0) <= tolerance }) { result.converged = true; break }
      var d = direction(g)
      var slope = dot(g, d)
      if !(slope < 0) { pairs = []; d = g.map { -$0 }; slope = dot(g, d) }  // not a descent direction: restart
      // The first step has no curvature to scale it: keep it to unit length.
      var t = pairs.isEmpty ? min(1, 1 / max(dot(g, g).squareRoot(), 1e-12)) : 1
      var accepted = false
      var fNew = f, xNew = x
      for _ in 0..<30 {
        xNew = zip(x, d).map { Double(Float($0 + t * $1)) }
        set(xNew)
        fNew = try objective()
        evaluations += 1
        if fNew.isFinite && fNew <= f + 1e-4 * t * slope { accepted = true; break }
        t *= 0.5
      }
      guard accepted else { set(x); _ = try objective(); evaluations += 1; break }
      let gNew = flat(\.gradient)
      let s = zip(xNew, x).map { $0 - $1 }, y = zip(gNew, g).map { $0 - $1 }
      let sy = dot(s, y)
      if sy > 1e-12 * dot(y, y).squareRoot() * dot(s, s).squareRoot() {
        pairs.append((s, y, 1 / sy))
        if pairs.count > memory { pairs.removeFirst() }
      }
      x = xNew; g = gNew; f = fNew
      result.iterations += 1
      result.objectives.append(f)
    }
    result.evaluations = evaluations
    return result
  }

  /// −H·g by the two-loop recursion, H₀ scaled by the newest pair's sᵀy / yᵀy.
  private func direction(_ g: [Double]) -> [Double] {
    var q = g
    var alphas = [Double](repeating: 0, count: pairs.count)
    for i in pairs.indices.reversed() {
      let a = pairs[i].rho * zip(pairs[i].s, q).reduce(0) { $0 + $1.0 * $1.1 }
      alphas[i] = a
      for k in q.indices { q[k] -= a * pairs[i].y[k] }
    }
    if let last = pairs.last {
      let gamma = 1 / (last.rho * last.y.reduce(0) { $0 + $1 * $1 })
      for k in q.indices { q[k] *= gamma }
    }
    for i in pairs.indices {
      let b = pairs[i].rho * zip(pairs[i].y, q).reduce(0) { $0 + $1.0 * $1.1 }
      for k in q.indices { q[k] += (alphas[i] - b) * pairs[i].s[k] }
    }
    return q.map { -$0 }
  }
}
