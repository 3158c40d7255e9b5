import Testing
@testable import TandemStore

@Test func storeLayoutVersionIsOne() {
  #expect(TandemStoreVersion.layout == 1)
}
