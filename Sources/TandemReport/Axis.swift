import Foundation

/// A numeric axis: a domain widened to round numbers and ticks at steps of
/// 1, 2 or 5 times a power of ten, so labels read as people would write them.
struct Axis: Equatable {
  var lower: Double
  var upper: Double
  var ticks: [Double]
  /// Digits after the point that tell neighbouring ticks apart.
  var decimals: Int

  /// `fixed` keeps the given bounds (ROC and calibration are 0...1); otherwise
  /// the bounds grow to the nearest ticks. A single value gets room around it.
  init(values: [Double], fixed: ClosedRange<Double>? = nil, includeZero: Bool = false, integers: Bool = false,
       tickCount: Int = 5) {
    var lo = fixed?.lowerBound ?? values.min() ?? 0
    var hi = fixed?.upperBound ?? values.max() ?? 1
    if includeZero { lo = min(lo, 0); hi = max(hi, 0) }
    if hi <= lo {
      let pad = lo == 0 ? 1 : abs(lo) * 0.1
      lo -= pad
      hi += pad
    }
    let raw = (hi - lo) / Double(tickCount)
    let magnitude = pow(10, floor(log10(raw)))
    let normalised = raw / magnitude
    var step = (normalised < 1.5 ? 1 : normalised < 3 ? 2 : normalised < 7 ? 5 : 10) * magnitude
    if integers { step = max(step, 1) }
    if fixed == nil {
      lo = floor(lo / step + 1e-9) * step
      hi = ceil(hi / step - 1e-9) * step
    }
    let first = Int(ceil(lo / step - 1e-9)), last = Int(floor(hi / step + 1e-9))
    lower = lo
    upper = hi
    ticks = first <= last ? (first...last).map { Double($0) * step } : []
    decimals = max(0, Int(-floor(log10(step) + 1e-9)))
  }

  func label(_ value: Double) -> String {
    let v = abs(value) < 1e-12 ? 0 : value
    return String(format: "%.\(decimals)f", v)
  }

  /// Where `value` lies between `start` (the lower bound) and `end` (the upper) in drawing units.
  func position(_ value: Double, from start: Double, to end: Double) -> Double {
    start + (value - lower) / (upper - lower) * (end - start)
  }
}

/// Numbers in SVG attributes: two decimals are finer than a pixel.
func svgNumber(_ value: Double) -> String {
  String(format: "%.2f", value)
}

/// Series colours, distinguishable for the common forms of colour blindness (Okabe–Ito).
let chartPalette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
