import Foundation
import Testing
@testable import CommerceStore

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
