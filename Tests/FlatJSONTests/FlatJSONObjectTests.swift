import FlatJSON
import Testing

@Suite struct FlatJSONObjectTests {
    @Test func readsFlatObjectsOfIntegersAndStrings() throws {
        let object = try #require(FlatJSONObject(Array(#" { "user_id" : 42,"coupon_id":-7 ,"zero": 0} "#.utf8)))
        #expect(object["user_id"] == 42)
        #expect(object["coupon_id"] == -7)
        #expect(object["zero"] == 0)
        #expect(object["other"] == nil)
        #expect(FlatJSONObject(Array(#"{"max": 9223372036854775807, "min": -9223372036854775808}"#.utf8))?["min"] == Int64.min)
        #expect(FlatJSONObject(Array("{}".utf8)) != nil)
        let claims = try #require(FlatJSONObject(Array(#"{"sub":"42","exp":1795389908,"role":"admin","name":"Kim 김"}"#.utf8)))
        #expect(claims.string("sub") == "42")
        #expect(claims["sub"] == nil)
        #expect(claims["exp"] == 1795389908)
        #expect(claims.string("exp") == nil)
        #expect(claims.string("name") == "Kim 김")
        #expect(claims.contains("role") && !claims.contains("aud"))
    }

    /// Everything else goes to the full decoder, which explains the problem.
    @Test func leavesAnythingElseToTheFullDecoder() {
        for text in ["", "[]", "{", #"{"a": 1"#, #"{"a": 1,}"#, #"{"a": 1.5}"#, #"{"a": 1e3}"#, #"{"a": 1E3}"#, #"{"a": 01}"#,
                     #"{"a": "1\n"}"#, #"{"a": "\u0041"}"#, #"{"a": true}"#, #"{"a": "x}"#, #"{"a": null}"#, #"{"a": {"b": 1}}"#, #"{"a\"b": 1}"#, #"{"a": 1, "a": 2}"#,
                     #"{"a": 9223372036854775808}"#, #"{"a": -}"#, #"{"a": 1} x"#, #"{"a" 1}"#] {
            #expect(FlatJSONObject(Array(text.utf8)) == nil, "\(text)")
        }
    }
}
