import CloudDriver
import DispatchModel
import Logging

extension EC2InstanceSet {
    /// Refreshes the spot price history of the types and zones of `items` (spot instances from
    /// `DescribeInstances`) unless every one was refreshed within `SpotPriceUpdateInterval`.
    ///
    /// Asks for three intervals' worth of history (EC2 cannot say "everything since T"), de-duplicates, and
    /// forgets histories not refreshed for 64 intervals. A failure is logged; listing goes on without prices.
    func updateSpotPrices(for items: [XMLTree]) async {
        let interval = self.parameters.spotPriceUpdateInterval
        let keys = items.map { item in
            SpotPriceBook<C.Instant>.Key(
                providerType: item.text(at: "instanceType") ?? "",
                zone: item.text(at: "placement/availabilityZone") ?? ""
            )
        }
        let now = self.clockNow
        guard self.spotPrices.needsUpdate(keys, staleBefore: now.advanced(by: .zero - interval)) else { return }

        let types = Set(keys.map(\.providerType)).sorted()
        // The instance types and the product as request parameters rather than filters: the same to EC2,
        // and moto understands only this form.
        var parameters: [(String, String)] = []
        for (number, type) in types.enumerated() { parameters.append(("InstanceType.\(number + 1)", type)) }
        parameters += [
            ("ProductDescription.1", "Linux/UNIX"),
            ("StartTime", Self.startTime(wallClockNow: Timestamp.now(), lookBack: interval * 3)),
        ]
        var found: [(SpotPriceBook<C.Instant>.Key, InstancePrice)] = []
        var nextToken: String?
        repeat {
            let page: XMLTree
            do throws(EC2APIError) {
                page = try await self.client.call(
                    "DescribeSpotPriceHistory",
                    parameters + (nextToken.map { [("NextToken", $0)] } ?? [])
                )
            } catch {
                self.warn("Could not fetch spot prices", error: error)
                break
            }
            for item in page.items("spotPriceHistorySet") {
                guard let type = item.text(at: "instanceType"), !type.isEmpty,
                    let price = item.text(at: "spotPrice").flatMap(Double.init),
                    let time = item.text(at: "timestamp").flatMap({ Timestamp(rfc3339: $0) })
                else { continue }
                found.append(
                    (
                        .init(providerType: type, zone: item.text(at: "availabilityZone") ?? ""),
                        InstancePrice(startTime: time, price: price)
                    )
                )
            }
            nextToken = page.text(at: "nextToken").flatMap { $0.isEmpty ? nil : $0 }
        } while nextToken != nil
        self.recordSpotPrices(found, at: now, expiredBefore: now.advanced(by: .zero - interval * 64))
    }

    /// `StartTime` for `DescribeSpotPriceHistory`: `lookBack` before now, in RFC 3339.
    static func startTime(wallClockNow: Timestamp, lookBack: Duration) -> String {
        Timestamp(secondsSince1970: wallClockNow.secondsSince1970 - lookBack.components.seconds).rfc3339
    }
}
