public import HTTPTypes
public import Hummingbird
import Logging

/// A handler throws a ``ManagementError``; Hummingbird answers it as Arvados's dispatcher does,
/// `{"errors":["<message>"]}` with the error's status.
extension ManagementError: HTTPResponseError {
    public var status: HTTPResponse.Status { .init(code: self.code.httpStatus) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        ManagementRoutes.json(ManagementRoutes.ErrorBody(errors: [self.message]), status: self.status)
    }
}

/// Logs the management requests that failed on the dispatcher's side (500), then lets the error answer.
struct ManagementErrorLog<Context: RequestContext>: RouterMiddleware {
    var logger: Logger

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ManagementError where error.code == .internalError {
            self.logger.error("Management request failed", metadata: ["error": "\(error)"])
            throw error
        }
    }
}
