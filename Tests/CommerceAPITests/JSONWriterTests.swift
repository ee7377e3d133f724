import Foundation
import Testing
import CommerceStore
@testable import CommerceAPI
@testable import CommerceCore
import FlatJSON

@Suite struct JSONWriterTests {
    @Test func modelsAreWrittenInContractOrderWithNullsKept() {
        let order = Order(orderID: 7, userID: 1, status: .paid,
                          items: [OrderLine(itemID: 3, name: "Lamp", quantity: 2, unitPrice: 10, lineTotal: 20)],
                          subtotal: 20, discount: 0, total: 20, couponID: nil, balanceAfter: 80,
                          orderedAt: Timestamp(milliseconds: 1_795_858_200_000))
        let text = String(decoding: JSONWriter.encode(order), as: UTF8.self)
        #expect(text == #"{"order_id":7,"user_id":1,"status":"PAID","items":[{"item_id":3,"name":"Lamp","quantity":2,"unit_price":10,"line_total":20}],"subtotal":20,"discount":0,"total":20,"coupon_id":null,"balance_after":80,"ordered_at":"2026-11-28T09:30:00Z"}"#)
    }

    @Test func stringsAreEscapedSoAnyNameRoundTrips() throws {
        let name = "quote \" backslash \\ newline \n tab \t bell \u{07} 한글 😀"
        let bytes = JSONWriter.encode(Item(itemID: 1, name: name, price: 0, stock: 0))
        let parsed = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        #expect(parsed?["name"] as? String == name)
    }

    @Test func timestampsAreRFC3339InUTC() {
        #expect(Timestamp(milliseconds: 0).description == "1970-01-01T00:00:00Z")
        #expect(Timestamp(milliseconds: 1_795_858_200_999).description == "2026-11-28T09:30:00Z")
        #expect(Timestamp(milliseconds: 951_782_400_000).description == "2000-02-29T00:00:00Z")
        #expect(Timestamp(milliseconds: -1).description == "1969-12-31T23:59:59Z")
    }
}

@Suite struct TimestampParsingTests {
    @Test func readsRFC3339WithFractionsAndOffsets() {
        #expect(Timestamp(rfc3339: "1970-01-01T00:00:00Z")?.milliseconds == 0)
        #expect(Timestamp(rfc3339: "2026-11-22T09:30:00Z")?.description == "2026-11-22T09:30:00Z")
        #expect(Timestamp(rfc3339: "2026-11-22T18:30:00+09:00")?.description == "2026-11-22T09:30:00Z")
        #expect(Timestamp(rfc3339: "2026-11-22T09:30:00.25-01:30")?.milliseconds == Timestamp(rfc3339: "2026-11-22T11:00:00Z")!.milliseconds + 250)
        #expect(Timestamp(rfc3339: "2024-02-29T00:00:00.123456z")?.milliseconds == 1_709_164_800_123)
        #expect(Timestamp(rfc3339: "1969-12-31T23:59:59Z")?.milliseconds == -1000)
    }

    @Test func refusesWhatIsNotRFC3339() {
        for text in ["", "2026-11-22", "2026-11-22T09:30Z", "2026-11-22T09:30:00", "2026-13-01T00:00:00Z",
                     "2025-02-29T00:00:00Z", "2026-11-22T24:00:00Z", "2026-11-22T09:30:00.Z", "2026-11-22T09:30:00+0900",
                     "2026-11-22T09:30:00Zjunk", "yesterday"] {
            #expect(Timestamp(rfc3339: text) == nil, "\(text)")
        }
    }
}
