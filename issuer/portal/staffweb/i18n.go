package staffweb

import (
	"net/http"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// Languages: German first, so a browser that asks for neither gets the
// language of the counter the portal serves.
var (
	supported = []language.Tag{language.German, language.English}
	matcher   = language.NewMatcher(supported)
)

// langCookie remembers the language switch (not personal, not secret).
const langCookie = "golive_lang"

// lang is "de" or "en": the switch's cookie first, then Accept-Language.
func lang(r *http.Request) string {
	var pref string
	if c, err := r.Cookie(langCookie); err == nil {
		pref = c.Value
	}
	tag, _ := language.MatchStrings(matcher, pref, r.Header.Get("Accept-Language"))
	if base, _ := tag.Base(); base.String() == "en" {
		return "en"
	}
	return "de"
}

// text is one message in both languages.
type text struct{ en, de string }

func (t text) in(lang string) string {
	if lang == "en" {
		return t.en
	}
	return t.de
}

// msgs are the pages' texts by key. Keys are grouped by page.
var msgs = map[string]text{
	"app.name":        {"Certificate portal", "Zertifikatsportal"},
	"app.subtitle":    {"Digital COVID certificates for pharmacies", "Digitale COVID-Zertifikate für Apotheken"},
	"app.skip":        {"Skip to content", "Zum Inhalt springen"},
	"app.signedin":    {"Signed in as pharmacy", "Angemeldet als Apotheke"},
	"app.signout":     {"Sign out", "Abmelden"},
	"app.language":    {"Language", "Sprache"},
	"banner.title":    {"The signing service is cut off.", "Der Signaturdienst ist nicht erreichbar."},
	"banner.text":     {"Requests are taken for later: you get a ticket at once, and the certificate is signed as soon as the service is back.", "Anträge werden für später angenommen: Sie erhalten sofort einen Vorgang, und das Zertifikat wird signiert, sobald der Dienst wieder da ist."},
	"signin.title":    {"Sign in", "Anmelden"},
	"signin.intro":    {"Sign in with the client ID and secret your pharmacy received at activation.", "Melden Sie sich mit der Client-ID und dem Geheimnis an, die Ihre Apotheke bei der Freischaltung erhalten hat."},
	"signin.clientid": {"Client ID", "Client-ID"},
	"signin.secret":   {"Client secret", "Geheimnis (Client Secret)"},
	"signin.submit":   {"Sign in", "Anmelden"},
	"signin.expired":  {"Your session has ended. Sign in again: what you typed is kept and shown again.", "Ihre Sitzung ist abgelaufen. Melden Sie sich erneut an: Ihre Eingaben bleiben erhalten und werden wieder angezeigt."},
	"signin.lost":     {"Your session has ended. Sign in again; the entries were not kept.", "Ihre Sitzung ist abgelaufen. Melden Sie sich erneut an; die Eingaben wurden nicht aufbewahrt."},
	"signin.kept":     {"Your entries are kept until you have signed in.", "Ihre Eingaben bleiben erhalten, bis Sie angemeldet sind."},
	"signin.bad":      {"Unknown client ID or wrong secret.", "Unbekannte Client-ID oder falsches Geheimnis."},
	"signin.throttle": {"Too many failed sign-ins. Wait a moment, then try again.", "Zu viele fehlgeschlagene Anmeldungen. Warten Sie kurz und versuchen Sie es dann erneut."},
	"signin.suspend":  {"This pharmacy account is suspended. Contact the operator.", "Dieses Apothekenkonto ist gesperrt. Wenden Sie sich an den Betreiber."},
	"signin.inactive": {"This pharmacy account is not active yet.", "Dieses Apothekenkonto ist noch nicht freigeschaltet."},
	"signin.out":      {"You have signed out.", "Sie haben sich abgemeldet."},

	"issue.title.v":    {"Vaccination certificate", "Impfzertifikat"},
	"issue.title.t":    {"Test certificate", "Testzertifikat"},
	"issue.title.r":    {"Recovery certificate", "Genesenenzertifikat"},
	"issue.tab.v":      {"Vaccination", "Impfung"},
	"issue.tab.t":      {"Test", "Test"},
	"issue.tab.r":      {"Recovery", "Genesung"},
	"issue.kinds":      {"Kind of certificate", "Art des Zertifikats"},
	"issue.person":     {"Person", "Person"},
	"issue.details.v":  {"Vaccination", "Impfung"},
	"issue.details.t":  {"Test", "Test"},
	"issue.details.r":  {"Recovery", "Genesung"},
	"issue.submit":     {"Issue certificate", "Zertifikat erstellen"},
	"issue.required":   {"required", "Pflichtfeld"},
	"issue.restored":   {"Welcome back. Your entries were kept: check them and issue the certificate.", "Willkommen zurück. Ihre Eingaben wurden aufbewahrt: Prüfen Sie sie und erstellen Sie das Zertifikat."},
	"issue.errors":     {"Please correct the entries marked below.", "Bitte korrigieren Sie die unten markierten Eingaben."},
	"issue.reused":     {"This form was already used for a certificate with other entries. Check the entries and issue again: this makes a new certificate.", "Dieses Formular wurde bereits für ein Zertifikat mit anderen Eingaben verwendet. Prüfen Sie die Eingaben und erstellen Sie erneut: Das ergibt ein neues Zertifikat."},
	"issue.inuse":      {"This request is still being processed. Press the button again in a moment: it will not issue twice.", "Dieser Antrag wird noch bearbeitet. Drücken Sie gleich noch einmal auf die Schaltfläche: Es wird nicht doppelt ausgestellt."},
	"issue.choose":     {"Please choose", "Bitte wählen"},
	"issue.eu":         {"Authorised in the EU", "In der EU zugelassen"},
	"issue.other":      {"Other vaccines", "Andere Impfstoffe"},
	"issue.newform":    {"Issue another certificate", "Weiteres Zertifikat erstellen"},
	"busy.title":       {"The portal is busy right now", "Das Portal ist gerade ausgelastet"},
	"busy.text":        {"Nothing was issued yet. Your entries are kept: press the button again in about %d s. A repeat never issues twice.", "Es wurde noch nichts ausgestellt. Ihre Eingaben bleiben erhalten: Drücken Sie in etwa %d s noch einmal auf die Schaltfläche. Eine Wiederholung stellt nie doppelt aus."},
	"busy.timeout":     {"The request took too long and was stopped. Your entries are kept: press the button again. A repeat never issues twice.", "Der Antrag hat zu lange gedauert und wurde abgebrochen. Ihre Eingaben bleiben erhalten: Drücken Sie noch einmal auf die Schaltfläche. Eine Wiederholung stellt nie doppelt aus."},
	"busy.signer":      {"The signing service did not answer. Your entries are kept: press the button again later. A repeat never issues twice.", "Der Signaturdienst hat nicht geantwortet. Ihre Eingaben bleiben erhalten: Drücken Sie später noch einmal auf die Schaltfläche. Eine Wiederholung stellt nie doppelt aus."},
	"busy.quota":       {"This pharmacy has issued very many certificates in a short time. Your entries are kept: press the button again in about %d s.", "Diese Apotheke hat in kurzer Zeit sehr viele Zertifikate ausgestellt. Ihre Eingaben bleiben erhalten: Drücken Sie in etwa %d s noch einmal auf die Schaltfläche."},
	"busy.page":        {"This page loads again by itself in about %d s.", "Diese Seite lädt sich in etwa %d s selbst neu."},
	"busy.signin":      {"Signing in is busy right now. Try again in about %d s.", "Die Anmeldung ist gerade ausgelastet. Versuchen Sie es in etwa %d s erneut."},
	"error.internal":   {"Something went wrong on our side. Your entries are kept: try again.", "Bei uns ist ein Fehler aufgetreten. Ihre Eingaben bleiben erhalten: Versuchen Sie es erneut."},
	"error.suspended":  {"This pharmacy account is suspended: no certificates can be issued.", "Dieses Apothekenkonto ist gesperrt: Es können keine Zertifikate ausgestellt werden."},
	"error.title":      {"Something went wrong", "Etwas ist schiefgelaufen"},
	"error.csrf.title": {"This form has expired", "Dieses Formular ist abgelaufen"},
	"error.csrf":       {"For your security the form could not be accepted (it was not sent from this portal's current page). Open the page again and repeat the entry.", "Zu Ihrer Sicherheit wurde das Formular nicht angenommen (es kam nicht von der aktuellen Seite dieses Portals). Öffnen Sie die Seite erneut und wiederholen Sie die Eingabe."},
	"error.notfound":   {"Page not found", "Seite nicht gefunden"},
	"error.nfcert":     {"This certificate or ticket does not exist here, or it belongs to another pharmacy.", "Dieses Zertifikat oder dieser Vorgang existiert hier nicht oder gehört zu einer anderen Apotheke."},
	"error.method":     {"This page cannot be used that way.", "Diese Seite kann so nicht verwendet werden."},
	"error.gone":       {"The certificate was issued, but it is past its retention period and can no longer be shown.", "Das Zertifikat wurde ausgestellt, ist aber über die Aufbewahrungsfrist hinaus und kann nicht mehr angezeigt werden."},
	"error.back":       {"Back to the start", "Zurück zum Anfang"},

	"cert.title":     {"Certificate issued", "Zertifikat ausgestellt"},
	"cert.intro":     {"Hand over the printout or let the person scan the QR code with their app.", "Geben Sie den Ausdruck aus oder lassen Sie die Person den QR-Code mit ihrer App scannen."},
	"cert.name":      {"Name", "Name"},
	"cert.dob":       {"Date of birth", "Geburtsdatum"},
	"cert.type":      {"Certificate", "Zertifikat"},
	"cert.uvci":      {"Certificate ID (UVCI)", "Zertifikatskennung (UVCI)"},
	"cert.issued":    {"Issued", "Ausgestellt"},
	"cert.expires":   {"Valid until", "Gültig bis"},
	"cert.status":    {"Status", "Status"},
	"cert.valid":     {"valid", "gültig"},
	"cert.revoked":   {"revoked", "widerrufen"},
	"cert.details":   {"Details", "Details"},
	"cert.qr":        {"QR code of the certificate", "QR-Code des Zertifikats"},
	"cert.pdf":       {"Open PDF for printing", "PDF zum Drucken öffnen"},
	"cert.download":  {"Download PDF", "PDF herunterladen"},
	"cert.dose":      {"dose %d of %d", "Dosis %d von %d"},
	"cert.on":        {"on %s", "am %s"},
	"cert.sampled":   {"sample taken %s", "Probe genommen %s"},
	"cert.positive":  {"first positive test %s, valid %s to %s", "erster positiver Test %s, gültig %s bis %s"},
	"ticket.title":   {"Certificate is being signed", "Zertifikat wird signiert"},
	"ticket.intro":   {"The request has been taken and is kept safely. It is signed as soon as possible; this page loads again by itself and then shows the certificate.", "Der Antrag wurde angenommen und ist sicher gespeichert. Er wird so bald wie möglich signiert; diese Seite lädt sich selbst neu und zeigt dann das Zertifikat."},
	"ticket.ready":   {"Ready at about %s.", "Fertig gegen %s Uhr."},
	"ticket.later":   {"Ready at about %s at the earliest, once the signing service is back.", "Frühestens gegen %s Uhr fertig, sobald der Signaturdienst wieder da ist."},
	"ticket.number":  {"Ticket", "Vorgang"},
	"ticket.refresh": {"Next check in %d s.", "Nächste Prüfung in %d s."},
	"ticket.now":     {"Check now", "Jetzt prüfen"},
	"ticket.keep":    {"Note the ticket. This page keeps checking by itself and can stay open in its tab while you serve the next person. Do not enter the same person again: that would make a second certificate.", "Notieren Sie den Vorgang. Diese Seite prüft selbst weiter und kann in ihrem Tab offen bleiben, während Sie die nächste Person bedienen. Erfassen Sie dieselbe Person nicht erneut: Das ergäbe ein zweites Zertifikat."},
	"failed.title":   {"The certificate could not be issued", "Das Zertifikat konnte nicht ausgestellt werden"},
	"failed.text":    {"The request was kept but could not be signed (reason: %s). Nothing was issued: enter it again.", "Der Antrag wurde aufbewahrt, konnte aber nicht signiert werden (Grund: %s). Es wurde nichts ausgestellt: Bitte erneut erfassen."},

	"f.fn":       {"Family name", "Nachname"},
	"f.gn":       {"Given name", "Vorname"},
	"f.dob":      {"Date of birth", "Geburtsdatum"},
	"h.dob":      {"For example 31.05.1980; only the year (1980) or month (05.1980) if the day is unknown.", "Zum Beispiel 31.05.1980; nur Jahr (1980) oder Monat (05.1980), wenn der Tag unbekannt ist."},
	"h.names":    {"As in the passport or identity card.", "Wie im Pass oder Personalausweis."},
	"f.mp":       {"Vaccine", "Impfstoff"},
	"f.dn":       {"Dose number", "Nummer der Dosis"},
	"f.sd":       {"Doses in the series", "Dosen in der Impfserie"},
	"h.dn":       {"A booster after two doses is dose 3 of 3.", "Eine Auffrischung nach zwei Dosen ist Dosis 3 von 3."},
	"f.dt":       {"Date of vaccination", "Impfdatum"},
	"f.co.v":     {"Country of vaccination", "Land der Impfung"},
	"f.co.t":     {"Country of the test", "Land des Tests"},
	"f.co.r":     {"Country of the test", "Land des Tests"},
	"f.tt":       {"Type of test", "Art des Tests"},
	"f.ma":       {"Rapid test device (ID)", "Schnelltest (Geräte-ID)"},
	"h.ma":       {"The number from the EU list of rapid antigen tests, for example 1232. Required for a rapid test.", "Die Nummer aus der EU-Liste der Antigen-Schnelltests, zum Beispiel 1232. Pflicht bei einem Schnelltest."},
	"f.nm":       {"Name of the PCR test", "Name des PCR-Tests"},
	"h.nm":       {"Optional.", "Optional."},
	"f.sc":       {"Sample taken at", "Probenahme am"},
	"h.sc":       {"Date and local time.", "Datum und Ortszeit."},
	"f.tr":       {"Result", "Ergebnis"},
	"f.tc":       {"Test centre", "Testzentrum"},
	"h.tc":       {"Optional: the name of the pharmacy or test centre.", "Optional: Name der Apotheke oder des Testzentrums."},
	"f.fr":       {"Date of the first positive test", "Datum des ersten positiven Tests"},
	"f.df":       {"Valid from", "Gültig ab"},
	"f.du":       {"Valid until", "Gültig bis"},
	"h.df":       {"Usually 28 days after the test.", "In der Regel 28 Tage nach dem Test."},
	"h.du":       {"At most 180 days after the test.", "Höchstens 180 Tage nach dem Test."},
	"tt.rat":     {"Rapid antigen test", "Antigen-Schnelltest"},
	"tt.naat":    {"PCR test (nucleic acid amplification)", "PCR-Test (Nukleinsäure-Amplifikation)"},
	"tr.neg":     {"Negative (not detected)", "Negativ (nicht nachgewiesen)"},
	"tr.pos":     {"Positive (detected)", "Positiv (nachgewiesen)"},
	"type.v":     {"Vaccination", "Impfung"},
	"type.t":     {"Test", "Test"},
	"type.r":     {"Recovery", "Genesung"},
	"field.form": {"Form", "Formular"},
}

// errTexts are German texts for the API's field error codes (dcc's codes
// and the portal's); English shows the API's own message.
var errTexts = map[string]string{
	"required":              "Bitte ausfüllen.",
	"syntax":                "Die Eingabe ist nicht lesbar.",
	"invalid_utf8":          "Die Eingabe enthält ungültige Zeichen.",
	"type":                  "Bitte eine Zahl eingeben.",
	"pattern":               "Das Format stimmt nicht.",
	"format":                "Dieses Datum gibt es nicht.",
	"max_length":            "Die Eingabe ist zu lang.",
	"min":                   "Der Wert ist zu klein (mindestens 1).",
	"not_integer":           "Bitte eine ganze Zahl eingeben.",
	"out_of_range":          "Der Wert liegt außerhalb des erlaubten Bereichs.",
	"unknown_code":          "Dieser Wert ist nicht bekannt.",
	"product_mismatch":      "Dieser Impfstoff passt nicht zu den übrigen Angaben.",
	"future_date":           "Das Datum liegt in der Zukunft.",
	"before_birth":          "Das Datum liegt vor der Geburt.",
	"date_order":            "Die Daten sind in der falschen Reihenfolge.",
	"not_nfc":               "Die Eingabe enthält ungewöhnlich zusammengesetzte Zeichen.",
	"whitespace":            "Bitte Leerzeichen am Anfang und Ende entfernen.",
	"control_character":     "Die Eingabe enthält Steuerzeichen.",
	"invalid_character":     "Die Eingabe enthält ein Zeichen, das nicht auf das Zertifikat passt.",
	"unsupported_character": "Die Eingabe enthält ein Zeichen, das nicht auf das Zertifikat passt.",
	"unsupported_name":      "Der Name enthält Zeichen, die nicht auf das Zertifikat passen.",
	"unsupported":           "Der Name enthält Zeichen, die nicht auf das Zertifikat passen.",
	"exactly_one_entry":     "Das Formular ist unvollständig.",
	"type_mismatch":         "Die Art des Zertifikats passt nicht zum Formular.",
	"rejected_by_signer":    "Der Signaturdienst hat die Angaben abgelehnt.",
	"invalid_client":        "Unbekannte Client-ID oder falsches Geheimnis.",
	"invalid_request":       "Bitte Client-ID und Geheimnis eingeben.",
	"check_character":       "Die Prüfziffer stimmt nicht.",
	"assigned_by_issuer":    "Die Zertifikatskennung vergibt das Portal.",
	"invalid_payload":       "Die Angaben sind ungültig.",
	"idempotency_invalid":   "Das Formular ist beschädigt; bitte erneut senden.",
}

// regionName is a country's name in the page's language (the value set's
// English name when the display tables lack it).
func regionName(lang, code, fallback string) string {
	if lang == "de" {
		if r, err := language.ParseRegion(code); err == nil {
			if n := display.German.Regions().Name(r); n != "" && !strings.EqualFold(n, code) {
				return n
			}
		}
	}
	return fallback
}
