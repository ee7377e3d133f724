import NIOCore
import Testing
@testable import CommerceAPI

@Suite struct FlatIntegerObjectTests {
    @Test func readsFlatObjectsOfIntegers() throws {
        let object = try #require(FlatIntegerObject(ByteBuffer(string: #" { "user_id" : 42,"coupon_id":-7 ,"zero": 0} "#)))
        #expect(object["user_id"] == 42)
        #expect(object["coupon_id"] == -7)
        #expect(object["zero"] == 0)
        #expect(object["other"] == nil)
        #expect(FlatIntegerObject(ByteBuffer(string: #"{"max": 9223372036854775807, "min": -9223372036854775808}"#))?["min"] == Int64.min)
        #expect(FlatIntegerObject(ByteBuffer(string: "{}")) != nil)
    }

    /// Everything else goes to the full decoder, which explains the problem.
    @Test func leavesAnythingElseToTheFullDecoder() {
        for text in ["", "[]", "{", #"{"a": 1"#, #"{"a": 1,}"#, #"{"a": 1.5}"#, #"{"a": 1e3}"#, #"{"a": 1E3}"#, #"{"a": 01}"#,
                     #"{"a": "1"}"#, #"{"a": null}"#, #"{"a": {"b": 1}}"#, #"{"a\"b": 1}"#, #"{"a": 1, "a": 2}"#,
                     #"{"a": 9223372036854775808}"#, #"{"a": -}"#, #"{"a": 1} x"#, #"{"a" 1}"#] {
            #expect(FlatIntegerObject(ByteBuffer(string: text)) == nil, "\(text)")
        }
    }
}
