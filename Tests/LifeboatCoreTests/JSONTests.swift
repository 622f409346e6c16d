import LifeboatCore
import Testing

@Suite struct JSONTests {
    @Test func test_parseAndWrite_roundTrip_keepsKeyOrder() throws {
        let text = #"{"b":1,"a":[true,false,null,"x\"y\n",-2.5e3],"c":{"z":"é\u00e9"}}"#
        let v = try JSONParser.parse(text)
        #expect(JSONWriter.write(v) == #"{"b":1,"a":[true,false,null,"x\"y\n",-2500],"c":{"z":"éé"}}"#)
    }

    @Test func test_timesKeepAFraction() {
        #expect(JSONWriter.write(.object([("at", .number(0)), ("n", .number(3))])) == #"{"at":0.0,"n":3}"#)
    }

    @Test(arguments: ["{\"a\":1,}", "[1,]", "01", "1.", "\"\\x\"", "tru", "{\"a\" 1}", "\"\\ud800\"", "1 2"])
    func test_invalidJSON_isRejected(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { _ = try JSONParser.parse(text) }
    }

    @Test func test_deepNesting_isBoundedNotACrash() {
        #expect(throws: JSONSyntaxError.self) { _ = try JSONParser.parse(String(repeating: "[", count: 100_000)) }
    }
}
