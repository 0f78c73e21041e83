using Microsoft.Extensions.Logging;

namespace CardlessAtm.Proxy;

/// <summary>
/// Every line the proxy writes. Each names the ATM id and the STANs involved (the phone's, and the proxy's own on
/// the ATM leg) and, for withdrawals, the QR session nonce; none carries field 127, a MAC or any other field value
/// beyond those. Event ids are stable for log queries.
/// </summary>
internal static partial class ProxyLog
{
    [LoggerMessage(1, LogLevel.Information, "Proxy listening: ATMs on {AtmEndPoint} ({AtmTransport}), phones on {PhoneEndPoint} ({PhoneTransport}).")]
    public static partial void Listening(ILogger logger, string atmEndPoint, string atmTransport, string phoneEndPoint, string phoneTransport);

    [LoggerMessage(2, LogLevel.Information, "Proxy stopped.")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(3, LogLevel.Warning, "INSECURE: the ATM port {AtmEndPoint} runs {Transport} (Proxy:Atm:Insecure = true): ATMs are not authenticated, any connection may sign on as any ATM id. Configure Proxy:Atm:Tls with ClientCaCertificatePath outside a lab.")]
    public static partial void AtmPortInsecure(ILogger logger, string atmEndPoint, string transport);

    [LoggerMessage(4, LogLevel.Warning, "INSECURE: the phone port {PhoneEndPoint} runs plain TCP (Proxy:Phone:Insecure = true): phones' requests cross the network readable and the proxy is not authenticated to them. Configure Proxy:Phone:Tls (CertificatePath, PrivateKeyPath) outside a lab.")]
    public static partial void PhonePortInsecure(ILogger logger, string phoneEndPoint);

    [LoggerMessage(10, LogLevel.Information, "ATM {AtmId} signed on (STAN {Stan}, connection {Connection} from {Remote}).")]
    public static partial void AtmSignedOn(ILogger logger, string atmId, string stan, long connection, string remote);

    [LoggerMessage(11, LogLevel.Warning, "ATM {AtmId} sign-on refused with 94 (STAN {Stan}, connection {Connection} from {Remote}): the id is held by live connection {HolderConnection} from {HolderRemote}.")]
    public static partial void AtmSignOnDuplicate(ILogger logger, string atmId, string stan, long connection, string remote, long holderConnection, string holderRemote);

    [LoggerMessage(12, LogLevel.Warning, "ATM {AtmId} sign-on refused with 12 (STAN {Stan}, connection {Connection} from {Remote}): this connection is already signed on as ATM {HeldAtmId}.")]
    public static partial void AtmSignOnOtherId(ILogger logger, string atmId, string stan, long connection, string remote, string heldAtmId);

    [LoggerMessage(13, LogLevel.Warning, "ATM sign-on refused with 30 (STAN {Stan}, connection {Connection} from {Remote}): field 41 is {Problem}.")]
    public static partial void AtmSignOnBadId(ILogger logger, string stan, long connection, string remote, string problem);

    [LoggerMessage(14, LogLevel.Information, "ATM {AtmId} signed off (STAN {Stan}, connection {Connection}); it is offline.")]
    public static partial void AtmSignedOff(ILogger logger, string atmId, string stan, long connection);

    [LoggerMessage(15, LogLevel.Warning, "ATM {AtmId} sign-off refused with 12 (STAN {Stan}, connection {Connection}): this connection does not hold that id.")]
    public static partial void AtmSignOffRefused(ILogger logger, string atmId, string stan, long connection);

    [LoggerMessage(16, LogLevel.Warning, "ATM {AtmId} is offline: connection {Connection} from {Remote} closed.")]
    public static partial void AtmDisconnected(ILogger logger, string atmId, long connection, string remote);

    [LoggerMessage(17, LogLevel.Warning, "ATM {AtmId} sent {Mti} (code {Code}, STAN {Stan}) on connection {Connection}; the proxy answers only sign-on, sign-off and echo: 12.")]
    public static partial void AtmUnsupported(ILogger logger, string atmId, string mti, string code, string stan, long connection);

    [LoggerMessage(18, LogLevel.Warning, "ATM {AtmId} answered proxy STAN {ProxyStan} with {ResponseCode} after the proxy had stopped waiting for it (the phone was answered 91, or had gone); the answer is dropped. Reconcile this withdrawal from the ATM's journal.")]
    public static partial void LateAnswer(ILogger logger, string atmId, string proxyStan, string responseCode);

    [LoggerMessage(19, LogLevel.Warning, "ATM connection {Connection} from {Remote} did not sign on within {Seconds:0.###} s; closing it.")]
    public static partial void AtmNoSignOn(ILogger logger, long connection, string remote, double seconds);

    [LoggerMessage(20, LogLevel.Warning, "SECURITY: ATM {AtmId} sign-on refused with 63 (STAN {Stan}, connection {Connection} from {Remote}): the connection's certificate (subject {Subject}, {Serial}) names ATM {CertifiedAtmId}; {Problem}. No registry change; the connection is closed.")]
    public static partial void AtmSignOnNotCertified(ILogger logger, string atmId, string certifiedAtmId, string stan, long connection, string remote, string subject, string serial, string problem);

    [LoggerMessage(30, LogLevel.Debug, "Phone STAN {PhoneStan} for ATM {AtmId} (session {Session}, phone connection {PhoneConnection}): forwarding as STAN {ProxyStan}.")]
    public static partial void Forwarding(ILogger logger, string phoneStan, string atmId, string session, long phoneConnection, string proxyStan);

    [LoggerMessage(31, LogLevel.Information, "Phone STAN {PhoneStan} for ATM {AtmId} (session {Session}, proxy STAN {ProxyStan}): ATM answered {ResponseCode} in {ElapsedMs:0} ms.")]
    public static partial void Answered(ILogger logger, string phoneStan, string atmId, string session, string proxyStan, string responseCode, double elapsedMs);

    [LoggerMessage(32, LogLevel.Warning, "Phone STAN {PhoneStan} for ATM {AtmId} (session {Session}, phone connection {PhoneConnection}): declined {ResponseCode} without forwarding: {Reason}.")]
    public static partial void NotForwarded(ILogger logger, string phoneStan, string atmId, string session, long phoneConnection, string responseCode, string reason);

    [LoggerMessage(33, LogLevel.Error, "Phone STAN {PhoneStan} for ATM {AtmId} (session {Session}, proxy STAN {ProxyStan}): OUTCOME UNKNOWN after {ElapsedMs:0} ms, {Reason}; the phone is answered {ResponseCode}. The ATM may have dispensed: reconcile from its journal.")]
    public static partial void OutcomeUnknown(ILogger logger, string phoneStan, string atmId, string session, string proxyStan, double elapsedMs, string reason, string responseCode);

    [LoggerMessage(34, LogLevel.Warning, "Phone connection {PhoneConnection} from {Remote} sent {Mti} (STAN {PhoneStan}, ATM {AtmId}): {Reason}; answered {ResponseCode}.")]
    public static partial void PhoneRejected(ILogger logger, long phoneConnection, string remote, string mti, string phoneStan, string atmId, string reason, string responseCode);

    [LoggerMessage(35, LogLevel.Information, "Phone connection {PhoneConnection} from {Remote} reached its limit of {Limit} requests; closing it after the answers in flight.")]
    public static partial void PhoneLimitReached(ILogger logger, long phoneConnection, string remote, int limit);

    [LoggerMessage(36, LogLevel.Warning, "Phone connection {PhoneConnection} from {Remote} sent request {Count} (STAN {PhoneStan}, ATM {AtmId}) past its limit of {Limit}; answered 91.")]
    public static partial void PhoneOverLimit(ILogger logger, long phoneConnection, string remote, int count, string phoneStan, string atmId, int limit);

    [LoggerMessage(40, LogLevel.Information, "Proxy {ProxyId} joined the fleet at {Url} (ownership bucket {Bucket}, entries expire {TtlSeconds:0.###} s after their last refresh).")]
    public static partial void FleetJoined(ILogger logger, string url, string proxyId, string bucket, double ttlSeconds);

    [LoggerMessage(41, LogLevel.Information, "ATM {AtmId} claimed for proxy {ProxyId} in the fleet (revision {Revision}; previous owner {PreviousOwner}).")]
    public static partial void FleetClaimed(ILogger logger, string atmId, string proxyId, ulong revision, string previousOwner);

    [LoggerMessage(42, LogLevel.Error, "ATM {AtmId} could not be claimed in the fleet: {Problem}; its sign-on is refused with 91 and the connection closed (the ATM dials again).")]
    public static partial void FleetClaimFailed(ILogger logger, string atmId, string problem);

    [LoggerMessage(43, LogLevel.Warning, "ATM {AtmId} signed on at proxy {NewOwner}, which now holds it in the fleet; this proxy drops its link to the ATM.")]
    public static partial void FleetSuperseded(ILogger logger, string atmId, string newOwner);

    [LoggerMessage(44, LogLevel.Error, "Proxy {ProxyId} cannot refresh its ATMs in the fleet: {Problem}. They stay connected here; their entries expire after {TtlSeconds:0.###} s and are written again when NATS is back, unless another proxy claimed them meanwhile.")]
    public static partial void FleetRefreshFailing(ILogger logger, string proxyId, string problem, double ttlSeconds);

    [LoggerMessage(45, LogLevel.Information, "Proxy {ProxyId} refreshes its ATMs in the fleet again.")]
    public static partial void FleetRefreshRecovered(ILogger logger, string proxyId);

    [LoggerMessage(46, LogLevel.Warning, "SECURITY: a fleet request on the subject of ATM {AtmId} was refused: {Reason}; answered {ResponseCode}.")]
    public static partial void FleetRequestRefused(ILogger logger, string atmId, string reason, string responseCode);

    [LoggerMessage(47, LogLevel.Debug, "Phone STAN {PhoneStan} for ATM {AtmId} (session {Session}, phone connection {PhoneConnection}): not signed on here; asking the fleet.")]
    public static partial void FleetForwarding(ILogger logger, string phoneStan, string atmId, string session, long phoneConnection);

    [LoggerMessage(48, LogLevel.Information, "Phone STAN {PhoneStan} for ATM {AtmId} (session {Session}): the owning proxy answered {ResponseCode} in {ElapsedMs:0} ms.")]
    public static partial void FleetAnswered(ILogger logger, string phoneStan, string atmId, string session, string responseCode, double elapsedMs);

    [LoggerMessage(49, LogLevel.Warning, "SECURITY: a NATS message on the subject of ATM {AtmId} was dropped unanswered and not forwarded: {Reason}.")]
    public static partial void FleetRequestUnauthenticated(ILogger logger, string atmId, string reason);

    [LoggerMessage(50, LogLevel.Warning, "SECURITY: a reply to the fleet request for ATM {AtmId} was ignored: {Reason}; waiting for the owning proxy's.")]
    public static partial void FleetReplyUnauthenticated(ILogger logger, string atmId, string reason);
}
