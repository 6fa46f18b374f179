"""Tell the citizen, in words they understand, what BankID is waiting for or why it stopped.

Why: a hintCode such as `outstandingTransaction` means nothing to a citizen, and BankID asks
relying parties to show its recommended user messages (RFA1–RFA23) rather than their own
inventions, so that people meet the same words in every service. Swedish comes first; English
is there for those who chose it. Codes BankID has added without an RFA text get the hub's own
plain wording, and anything unknown gets a safe generic message — never the raw code.
https://developers.bankid.com/resources/user-messages
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class UserMessage:
    """A message for the citizen: BankID's RFA code (or the hub's), in Swedish and English."""

    code: str
    sv: str
    en: str

    def text(self, language: str = "sv") -> str:
        """Return the text in the given language (a BCP 47 tag); Swedish unless English is asked for."""
        return self.en if language.lower().startswith("en") else self.sv


RFA1: Final = UserMessage("RFA1", "Starta BankID-appen.", "Start your BankID app.")
RFA2: Final = UserMessage(
    "RFA2",
    "Du har inte BankID-appen installerad. Kontakta din bank.",
    "The BankID app is not installed. Please contact your bank.",
)
RFA3: Final = UserMessage("RFA3", "Åtgärden avbruten. Försök igen.", "Action cancelled. Please try again.")
RFA4: Final = UserMessage(
    "RFA4",
    "En identifiering eller underskrift för det här personnumret är redan påbörjad. Försök igen.",
    "An identification or signing for this personal number is already started. Please try again.",
)
RFA5: Final = UserMessage("RFA5", "Internt tekniskt fel. Försök igen.", "Internal error. Please try again.")
RFA6: Final = UserMessage("RFA6", "Åtgärden avbruten.", "Action cancelled.")
RFA8: Final = UserMessage(
    "RFA8",
    "BankID-appen svarar inte. Kontrollera att den är startad och att du har internetanslutning. "
    "Om du inte har något giltigt BankID kan du skaffa ett hos din bank. Försök sedan igen.",
    "The BankID app is not responding. Please check that it's started and that you have internet "
    "access. If you don't have a valid BankID you can get one from your bank. Try again.",
)
RFA9: Final = UserMessage(
    "RFA9",
    "Skriv in din säkerhetskod i BankID-appen och välj Identifiera eller Skriv under.",
    "Enter your security code in the BankID app and select Identify or Sign.",
)
RFA13: Final = UserMessage("RFA13", "Försöker starta BankID-appen.", "Trying to start your BankID app.")
RFA14B: Final = UserMessage(
    "RFA14B",
    "Söker efter BankID, det kan ta en liten stund … Om det har gått några sekunder och inget BankID "
    "har hittats har du sannolikt inget BankID som går att använda för den aktuella "
    "identifieringen/underskriften i den här enheten. Om du inte har något BankID kan du skaffa ett "
    "hos din bank. Om du har ett BankID på en annan enhet kan du starta din BankID-app där.",
    "Searching for BankID, it may take a little while … If a few seconds have passed and still no "
    "BankID has been found, you probably don't have a BankID which can be used for this "
    "identification/signing on this device. If you don't have a BankID you can get one from your "
    "bank. If you have a BankID on another device you can start the BankID app on that device.",
)
RFA15B: Final = UserMessage(
    "RFA15B",
    "Söker efter BankID, det kan ta en liten stund … Om det har gått några sekunder och inget BankID "
    "har hittats har du sannolikt inget BankID som går att använda för den aktuella "
    "identifieringen/underskriften i den här enheten. Om du inte har något BankID kan du skaffa ett "
    "hos din bank.",
    "Searching for BankID, it may take a little while … If a few seconds have passed and still no "
    "BankID has been found, you probably don't have a BankID which can be used for this "
    "identification/signing on this device. If you don't have a BankID you can get one from your bank.",
)
RFA16: Final = UserMessage(
    "RFA16",
    "Det BankID du försöker använda är för gammalt eller spärrat. Använd ett annat BankID eller "
    "skaffa ett nytt hos din bank.",
    "The BankID you are trying to use is blocked or too old. Please use another BankID or get a new "
    "one from your bank.",
)
RFA17A: Final = UserMessage(
    "RFA17A",
    "BankID-appen verkar inte finnas i din dator eller mobil. Installera den och skaffa ett BankID "
    "hos din bank. Installera appen från din appbutik eller https://install.bankid.com.",
    "The BankID app couldn't be found on your computer or mobile device. Please install it and get "
    "a BankID from your bank. Install the app from your app store or https://install.bankid.com.",
)
RFA17B: Final = UserMessage(
    "RFA17B",
    "Misslyckades att läsa av QR-koden. Starta BankID-appen och läs av QR-koden. Kontrollera att "
    "BankID-appen är uppdaterad. Om du inte har BankID-appen måste du installera den och skaffa ett "
    "BankID hos din bank. Installera appen från din appbutik eller https://install.bankid.com.",
    "Failed to scan the QR code. Start the BankID app and scan the QR code. Check that the BankID "
    "app is up to date. If you don't have the BankID app, you need to install it and get a BankID "
    "from your bank. Install the app from your app store or https://install.bankid.com.",
)
RFA21: Final = UserMessage(
    "RFA21", "Identifiering eller underskrift pågår.", "Identification or signing in progress.",
)
RFA22: Final = UserMessage("RFA22", "Okänt fel. Försök igen.", "Unknown error. Please try again.")
RFA23: Final = UserMessage(
    "RFA23",
    "Fotografera och läs av din ID-handling med BankID-appen.",
    "Process your machine-readable travel document using the BankID app.",
)

# The hub's own wording, for codes BankID documents without a recommended text.
CALL_CONFIRM: Final = UserMessage(
    "ingang-call-confirm",
    "Bekräfta i BankID-appen att du är i ett samtal med oss.",
    "Confirm in the BankID app that you are in a call with us.",
)
CALL_DECLINED: Final = UserMessage(
    "ingang-call-declined",
    "Du angav i BankID-appen att du inte är i ett samtal med oss. Åtgärden avbröts.",
    "You indicated in the BankID app that you are not in a call with us. The action was cancelled.",
)
APP_TOO_OLD: Final = UserMessage(
    "ingang-app-too-old",
    "Din BankID-app behöver uppdateras. Uppdatera appen och försök igen.",
    "Your BankID app needs to be updated. Update the app and try again.",
)
RISK_BLOCKED: Final = UserMessage(
    "ingang-risk-blocked",
    "BankID stoppade åtgärden av säkerhetsskäl. Försök igen senare eller kontakta din bank.",
    "BankID stopped the action for security reasons. Try again later or contact your bank.",
)
COMPLETE: Final = UserMessage("ingang-complete", "Klart! Du är identifierad.", "Done! You are identified.")

# hintCodes of pending orders (BankID RP API v6.0, collect); RFA21 covers any code added later.
PENDING_HINT_CODES: Final = (
    "outstandingTransaction", "noClient", "started", "userMrtd", "userCallConfirm", "userSign", "processing",
)
# hintCodes of failed orders; RFA22 covers any code added later.
FAILED_HINT_CODES: Final = (
    "expiredTransaction", "certificateErr", "userCancel", "cancelled", "startFailed",
    "userDeclinedCall", "notSupportedByUserApp", "transactionRiskBlocked",
)

_PENDING: Final[dict[str, UserMessage]] = {
    "noClient": RFA1,
    "userMrtd": RFA23,
    "userCallConfirm": CALL_CONFIRM,
    "userSign": RFA9,
    "processing": RFA21,
}
_FAILED: Final[dict[str, UserMessage]] = {
    "expiredTransaction": RFA8,
    "certificateErr": RFA16,
    "userCancel": RFA6,
    "cancelled": RFA3,
    "userDeclinedCall": CALL_DECLINED,
    "notSupportedByUserApp": APP_TOO_OLD,
    "transactionRiskBlocked": RISK_BLOCKED,
}


def pending_message(hint_code: str | None, *, auto_started: bool = False) -> UserMessage:
    """Say what a pending order waits for; auto_started tells whether the app was opened on this device.

    The guidelines word three codes differently when the app was started with the autoStartToken
    (same device) than when the citizen scans a QR code with another device.
    """
    if hint_code == "outstandingTransaction":
        return RFA13 if auto_started else RFA1
    if hint_code == "started":
        return RFA14B if auto_started else RFA15B
    return _PENDING.get(hint_code or "", RFA21)


def failed_message(hint_code: str | None, *, auto_started: bool = False) -> UserMessage:
    """Say why an order failed and what the citizen can do about it."""
    if hint_code == "startFailed":
        return RFA17A if auto_started else RFA17B
    return _FAILED.get(hint_code or "", RFA22)


def collect_message(status: str, hint_code: str | None, *, auto_started: bool = False) -> UserMessage:
    """Turn any collect answer (status and hintCode) into a message; unknown ones get RFA22."""
    if status == "pending":
        return pending_message(hint_code, auto_started=auto_started)
    if status == "failed":
        return failed_message(hint_code, auto_started=auto_started)
    if status == "complete":
        return COMPLETE
    return RFA22
