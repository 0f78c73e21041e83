namespace CardlessAtm.Phone;

/// <summary>What was wrong with an input the phone was given. Each bad input has its own kind.</summary>
public enum PhoneInputError
{
    /// <summary>The QR image file does not exist or cannot be read.</summary>
    QrFileUnreadable,

    /// <summary>The file is not an image the phone can decode (PNG or JPEG), or it is too large.</summary>
    QrImageInvalid,

    /// <summary>The image decodes, but no QR code is found in it.</summary>
    NoQrInImage,

    /// <summary>The QR code holds something else than a cardless ATM session (a URL, another scheme).</summary>
    NotOurQr,

    /// <summary>The QR code is a session code, but its payload is malformed (truncated, padded, bad field, unknown version or currency).</summary>
    InvalidQrPayload,

    /// <summary>The session's expiry has passed; the ATM would refuse it, so nothing is sent.</summary>
    QrExpired,

    /// <summary>The PIN is not 4 to 12 digits.</summary>
    InvalidPin,

    /// <summary>The account id is not 1 to 19 digits.</summary>
    InvalidAccountId,

    /// <summary>The enrolment file does not exist.</summary>
    EnrolmentMissing,

    /// <summary>The enrolment file can be read or written by group or others (it holds DUKPT keys: chmod 600).</summary>
    EnrolmentInsecure,

    /// <summary>The enrolment file is malformed, of the wrong kind, or enrolled under the other security profile.</summary>
    EnrolmentInvalid,

    /// <summary>The phone's DUKPT counter is used up: it must be re-enrolled.</summary>
    EnrolmentExhausted,

    /// <summary>Another process is using the enrolment file right now.</summary>
    EnrolmentBusy,

    /// <summary>A setting (proxy address, timeout, TLS pin) is invalid.</summary>
    InvalidSetting,
}

/// <summary>
/// A bad input to the phone, refused before anything was sent. <see cref="Exception.Message"/> says what was
/// wrong and <see cref="Where"/> names the input (an option, a file, a field). Never carries the PIN, a key or
/// the full account id.
/// </summary>
public sealed class PhoneInputException : Exception
{
    /// <summary>Creates the error.</summary>
    public PhoneInputException(PhoneInputError error, string where, string message, Exception? innerException = null)
        : base($"{where}: {message}", innerException)
    {
        Error = error;
        Where = where;
    }

    /// <summary>Creates an error without detail (for serialisers; prefer the main constructor).</summary>
    public PhoneInputException()
        : this(PhoneInputError.InvalidSetting, "phone", "invalid input")
    {
    }

    /// <summary>Creates an error without a kind (prefer the main constructor).</summary>
    public PhoneInputException(string message)
        : this(PhoneInputError.InvalidSetting, "phone", message)
    {
    }

    /// <summary>Creates an error without a kind (prefer the main constructor).</summary>
    public PhoneInputException(string message, Exception innerException)
        : this(PhoneInputError.InvalidSetting, "phone", message, innerException)
    {
    }

    /// <summary>Which kind of bad input.</summary>
    public PhoneInputError Error { get; }

    /// <summary>The input concerned, e.g. <c>--qr code.png</c>, <c>enrolment file /home/u/phone.key</c>, <c>PIN</c>.</summary>
    public string Where { get; }
}
