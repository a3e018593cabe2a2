# ruff: noqa: E501  (the template pools below are long string literals)
"""Generate the synthetic customer-support ticket dataset used by `hone demo`.

Writes `tickets.jsonl` next to this script: one JSON object per line,
`{"text": <ticket>, "label": <one of billing, technical, account, shipping,
refund, feedback>}`, about 900 rows by default.

Every ticket is synthetic: it is assembled from hand-written templates with
slot fillers (order numbers, amounts, products, dates, couriers, devices)
by a seeded random generator, so the same seed always gives the same file.
No real customer data is involved. The data and this script are released
with hone under the Apache License 2.0.

The task is built so that keywords alone do not solve it. About 30% of the
tickets come from single-topic scenarios whose side remarks borrow another
class's vocabulary ("I don't want a refund, just tell me where it is", a
payment page that crashes, a compliment about fast delivery). About 70% come
from contrast pairs: two classes share one pool of situations and one set of
ask/refusal phrasings, and the label follows from which want is asked for and
which is turned down ("I don't want a refund, I want the parcel" is shipping;
"I don't want the parcel anymore, I want a refund" is refund). About 5% of
tickets raise a second, minor issue; the label is the main ask. See README.md
for the label definitions.

Usage:
    python examples/tickets/generate.py [--seed 13] [--n 900] [--out PATH]

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

LABELS = ("billing", "technical", "account", "shipping", "refund", "feedback")

# Share of each label in the output (largest / smallest = 2.0).
SHARES = {
    "shipping": 0.205,
    "billing": 0.185,
    "technical": 0.180,
    "refund": 0.165,
    "account": 0.145,
    "feedback": 0.120,
}

STYLES = {"terse": 0.16, "plain": 0.34, "polite": 0.22, "rambling": 0.16, "angry": 0.12}
P_SIDE = 0.6  # a label-safe sentence that borrows another class's vocabulary
P_EXTRA = 0.45  # a scenario-specific detail
P_TWO_ISSUES = 0.08  # a second, minor issue (non-terse tickets only: ~5% overall)
P_TYPOS = 0.14
P_PAIR = 0.7  # share of tickets drawn from the contrast pairs below
P_WHY = 0.2  # a pair ticket also gives a reason that fits only its label
MIN_WORDS, MAX_WORDS = 5, 80
MAX_CHARS = 330  # keeps every ticket within the demo's max_length of 96 tokens
NEAR_DUP_JACCARD = 0.8

# ---------------------------------------------------------------------------
# Slot fillers. `[a|b|c]` picks one alternative (may be empty), `{slot}` fills a
# slot. Slots named in PER_TICKET keep one value for the whole ticket.
# ---------------------------------------------------------------------------


def _order(rng: random.Random) -> str:
    n = rng.randint(10000, 999999)
    form = rng.randrange(7)
    if form == 0:
        return f"#{n}"
    if form == 1:
        return f"order #{n}"
    if form == 2:
        return f"order {rng.randint(100, 999)}-{rng.randint(1000000, 9999999)}"
    if form == 3:
        return f"ORD-{n}"
    if form == 4:
        return f"order no. {n}"
    if form == 5:
        return f"order {n}"
    return f"my order ({rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{n})"


def _amount(rng: random.Random) -> str:
    value = rng.choice([rng.randint(5, 60), rng.randint(5, 250), rng.randint(60, 900)])
    cents = rng.choice(["", ".99", ".00", ".50", f".{rng.randint(10, 98)}", ".95"])
    form = rng.randrange(6)
    if form == 0:
        return f"€{value}{cents}"
    if form == 1:
        return f"£{value}{cents}"
    if form == 2:
        return f"{value}{cents} USD"
    if form == 3:
        return f"{value}{cents} dollars" if not cents else f"${value}{cents}"
    return f"${value}{cents}"


def _date(rng: random.Random) -> str:
    month = rng.choice(
        [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ]
    )
    day = rng.randint(1, 28)
    form = rng.randrange(9)
    if form == 0:
        return f"{month} {day}"
    if form == 1:
        return f"the {day}{_suffix(day)}"
    if form == 2:
        return f"{day}/{rng.randint(1, 12)}"
    if form == 3:
        return f"{day} {month[:3]}"
    if form in (4, 5):
        return rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"])
    if form == 6:
        return f"{rng.randint(1, 12):02d}/{day:02d}"
    return f"{month[:3]} {day}{_suffix(day)}"


def _suffix(day: int) -> str:
    return "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _email(rng: random.Random) -> str:
    first = rng.choice(
        [
            "anna",
            "j.smith",
            "mike",
            "sara.k",
            "tomb",
            "lee",
            "priya",
            "dkowalski",
            "m.rossi",
            "chen.w",
            "olga",
            "sam",
            "rachel.g",
            "kofi",
            "nina",
            "pete",
            "lucia",
            "ahmed",
            "jo.b",
        ]
    )
    num = rng.choice(["", "", str(rng.randint(1, 99)), str(rng.randint(1970, 2004))])
    dom = rng.choice(
        [
            "gmail.com",
            "outlook.com",
            "yahoo.com",
            "hotmail.co.uk",
            "icloud.com",
            "proton.me",
            "work-mail.com",
            "web.de",
            "mail.com",
        ]
    )
    return f"{first}{num}@{dom}"


def _digits4(rng: random.Random) -> str:
    return f"{rng.randint(0, 9999):04d}"


def _num_days(rng: random.Random) -> str:
    return rng.choice(
        ["3", "4", "5", "6", "7", "8", "10", "12", "14", "three", "four", "five", "six", "ten", "eleven", "two"]
    )


SLOTS: dict[str, object] = {
    "order": _order,
    "order2": _order,
    "amount": _amount,
    "amount2": _amount,
    "date": _date,
    "date2": _date,
    "email": _email,
    "email2": _email,
    "last4": _digits4,
    "last4b": _digits4,
    "ndays": _num_days,
    "product": [
        "wireless earbuds",
        "blue hoodie",
        "standing desk",
        "coffee grinder",
        "yoga mat",
        "phone case",
        "running shoes",
        "desk lamp",
        "air fryer",
        "backpack",
        "kettle",
        "electric toothbrush",
        "rain jacket",
        "bluetooth speaker",
        "office chair",
        "smart watch",
        "cast iron pan",
        "bedding set",
        "jigsaw puzzle",
        "USB-C hub",
        "kids' bike helmet",
        "espresso machine",
        "winter boots",
        "travel mug",
        "monitor stand",
        "vacuum cleaner",
        "linen shirt",
        "board game",
        "mechanical keyboard",
        "hair dryer",
        "plant pot set",
        "camping tent",
        "noise cancelling headphones",
        "blender",
        "sunglasses",
        "leather wallet",
        "baby monitor",
        "gaming mouse",
        "duvet",
        "set of wine glasses",
    ],
    "plan": [
        "Pro plan",
        "Premium membership",
        "annual subscription",
        "Plus plan",
        "family plan",
        "monthly subscription",
        "Business plan",
        "membership",
    ],
    "courier": [
        "UPS",
        "FedEx",
        "DHL",
        "USPS",
        "Royal Mail",
        "the courier",
        "DPD",
        "Evri",
        "the delivery company",
        "Canada Post",
        "PostNL",
        "the driver",
    ],
    "device": [
        "iPhone 12",
        "iPhone 14",
        "iPhone SE",
        "Pixel 7",
        "Galaxy S22",
        "Samsung A52",
        "iPad",
        "OnePlus 9",
        "Moto G",
        "my work laptop",
        "a Chromebook",
        "MacBook",
        "Windows 11 PC",
        "Android tablet",
    ],
    "browser": ["Chrome", "Firefox", "Safari", "Edge", "Brave", "Chrome on Android", "Safari on iPhone"],
    "appver": ["4.2.1", "4.3", "5.0.2", "the latest version", "version 3.9", "v5.1", "the newest update"],
    "error": [
        "error 500",
        "a 500 error",
        "Error 502 Bad Gateway",
        "a 403 Forbidden page",
        "'Something went wrong'",
        "a blank white screen",
        "'Unexpected error, please try again later'",
        "error code E-1023",
        "'Internal server error'",
        "an error 404",
        "a grey page with 'oops'",
        "error 0x80",
        "'Request timed out'",
        "'null' in a red box",
        "a spinning wheel that never stops",
    ],
    "app": [
        "the app",
        "your app",
        "the iOS app",
        "the Android app",
        "the website",
        "your site",
        "the mobile app",
        "the desktop site",
        "the web app",
    ],
    "rel": [
        "wife",
        "husband",
        "partner",
        "dad",
        "mum",
        "mother",
        "father",
        "son",
        "daughter",
        "flatmate",
        "grandmother",
        "boss",
        "colleague",
        "sister",
        "brother",
    ],
    "company": [
        "Brightline Ltd",
        "our company",
        "Hollis & Park LLP",
        "my employer",
        "Kestrel Design GmbH",
        "Northgate Dental",
        "the school",
        "our charity",
    ],
    "city": [
        "Leeds",
        "Toronto",
        "Austin",
        "Dublin",
        "Lyon",
        "Munich",
        "Rotterdam",
        "Denver",
        "Glasgow",
        "Perth",
        "Boston",
        "Cork",
        "Vancouver",
        "Manchester",
        "Portland",
    ],
    "country": [
        "Canada",
        "Ireland",
        "Norway",
        "Switzerland",
        "Australia",
        "the Channel Islands",
        "Mexico",
        "Iceland",
        "Poland",
        "Japan",
    ],
    "agent": [
        "Maria",
        "Josh",
        "Aisha",
        "Tom from the chat",
        "Daniel",
        "the lady on the phone",
        "Kenji",
        "your agent Sophie",
        "Luis",
        "whoever answered the chat on Tuesday",
    ],
    "event": [
        "a birthday",
        "a wedding",
        "Christmas",
        "our trip",
        "my exam",
        "a client meeting",
        "the weekend",
        "my daughter's party",
        "Mother's Day",
        "a conference",
    ],
    "name": [
        "Anna",
        "Mike",
        "J. Smith",
        "Priya",
        "Tom",
        "Lucia",
        "Dave",
        "Kofi",
        "Sarah",
        "Olga",
        "Chen",
        "Rachel",
        "Ahmed",
        "Nina",
        "Pete",
        "Margaret",
        "B. Okafor",
        "Sam",
        "Helen",
        "Raj",
    ],
}
PER_TICKET = {
    "order",
    "order2",
    "amount",
    "amount2",
    "date",
    "date2",
    "email",
    "email2",
    "last4",
    "last4b",
    "ndays",
    "product",
    "plan",
    "courier",
    "device",
    "browser",
    "appver",
    "error",
    "app",
    "rel",
    "company",
    "city",
    "country",
    "agent",
    "event",
    "name",
}

# ---------------------------------------------------------------------------
# Wrappers shared by every class.
# ---------------------------------------------------------------------------

GREETINGS = [
    "Hi",
    "Hello",
    "Hey",
    "Hi there",
    "Hello support",
    "Dear support team",
    "Good morning",
    "Good afternoon",
    "Hi team",
    "Hiya",
    "Hello,",
    "Dear Sir or Madam,",
    "Hi all",
    "Hey guys",
    "Evening",
    "Hi, hope you're well.",
]
SIGNOFFS = [
    "Thanks",
    "Thank you",
    "Thanks in advance",
    "Cheers",
    "Regards, {name}",
    "Best, {name}",
    "Kind regards, {name}",
    "- {name}",
    "Many thanks, {name}",
    "Appreciate it",
    "Thx",
    "Thanks so much!",
    "Thank you for your help.",
    "Looking forward to hearing from you.",
    "Have a nice day",
    "Ta",
    "Cheers, {name}",
    "Thanks, {name}",
]
RAMBLE = [
    "I've been shopping with you for years and never had a problem before.",
    "Sorry for the long message, I'll try to explain.",
    "My [daughter|son|grandson] set this up for me so please bear with me.",
    "I tried the chat first but it kept disconnecting.",
    "I called [yesterday|this morning] but the wait was over an hour.",
    "Not sure if this is the right place to ask.",
    "I'm writing from my phone so excuse any mistakes.",
    "I did look through the FAQ first but couldn't find an answer.",
    "This is my first time contacting you.",
    "A friend recommended you and so far it's been mostly good.",
    "I'm usually very happy with your service.",
    "Apologies if this has been asked before.",
    "I'll keep it as short as I can.",
    "Hope your week is going better than mine.",
]
ANGRY = [
    "This is ridiculous.",
    "Third time I'm writing about this.",
    "Seriously?",
    "Unbelievable.",
    "I'm really fed up.",
    "Very disappointed.",
    "Absolutely unacceptable.",
    "What is going on?!",
    "I am not happy.",
    "Come on.",
    "Getting really frustrated here.",
    "Second email, no reply to the first.",
]
URGENT = [
    "Please sort this out asap.",
    "I need an answer today.",
    "Reply ASAP please.",
    "I'd appreciate a quick answer.",
    "Fix it.",
    "Please respond this time.",
    "I expect a reply today.",
    "Don't send me another automated reply.",
]
ON_BEHALF = [
    "Writing on behalf of my {rel}, who isn't great with computers.",
    "I'm contacting you for my {rel}.",
    "My {rel} asked me to write in about this.",
    "Posting this for my {rel}.",
]

# ---------------------------------------------------------------------------
# Scenarios. Each has: core (problem plus the ask), short (terse versions),
# side (label-safe sentences that borrow other classes' vocabulary), extra
# (neutral detail). The label is decided by the ask in core/short.
# ---------------------------------------------------------------------------

S = dict  # brevity

SCENARIOS: dict[str, list[dict[str, list[str]]]] = {
    "billing": [
        S(  # duplicate charge, explicitly not a refund request
            core=[
                "[I was|I've been|I got|Looks like I was] charged twice for {order}. My [bank|card] statement shows two [identical|separate] charges of {amount} from {date}. [Which one is real?|Is one of them just a pending hold?|Can you explain what happened?]",
                "There are two {amount} [payments|charges|transactions] for the same order ({order}) on my [credit card|debit card|statement]. I only placed it once. [Is the second one an authorisation that will drop off?|Could you check your billing system?|Why would that happen?]",
                "{order} seems to have been billed twice, {amount} both times, on {date}. Please confirm which charge is the actual one [and that the other will disappear|before my statement closes].",
                "My {rel} noticed a duplicate charge for {order} on our [joint account|card]. Same amount, same day. Can you tell us whether the second one is a temporary hold?",
                "You billed me twice for the {product} ({amount} x2). [What's going on with your billing?|Please look into the duplicate and let me know.|Can you check which transaction is valid?]",
                "Two charges for one order again. {order}, {amount} each. I'd like to know why this keeps happening [with my card|on your end|every time I use Apple Pay].",
            ],
            short=[
                "charged twice for {order}??",
                "Double charge on my card, {order}. Which one is real?",
                "two identical charges of {amount}, one order. explain pls",
                "Why was I billed 2x for {order}?",
                "duplicate charge {amount} - is the second a pending hold?",
            ],
            side=[
                "I'm not asking for a refund, I'm keeping the {product}, I just want to understand the charges.",
                "To be clear I don't want the order refunded or cancelled.",
                "No need to refund anything if the second one is just a hold, I only want confirmation.",
                "The order itself arrived [fine|on time|yesterday] and I'm happy with it.",
                "Delivery was fine, this is purely about the billing.",
                "The app didn't show any error when I paid, it just went through normally.",
                "I don't want my money back, I want to know which payment is the real one.",
            ],
            extra=[
                "I paid with my [Visa|Mastercard|Amex] ending {last4}.",
                "Both show as [pending|posted] right now.",
                "My bank told me to contact you first.",
                "Screenshot of the statement available if needed.",
                "This is the [first|second] time it has happened.",
            ],
        ),
        S(  # invoices
            core=[
                "Could you [send|email] me [an|the] invoice for {order}? [I need it for|It's for] [my expense report|my accountant|tax purposes|reimbursement from work].",
                "The invoice for {order} has the wrong [company name|address|VAT number|billing address] on it. Can you [issue|send] a corrected one?",
                "I need a VAT invoice [for|covering] [my last three orders|{order}|the {plan}]. The [receipt|confirmation] email isn't enough for [my employer|our finance team|HMRC].",
                "Our finance team needs invoices made out to {company} instead of my personal name. Is that possible for [{order}|past orders|future orders]?",
                "Can I get a single invoice for all my purchases [in|from] [March|June|the last quarter|2023]?",
                "My {rel} ordered the {product} for me and I need the invoice in my name. Could you re-issue it?",
                "The total on the invoice ({amount}) doesn't match what I was charged ({amount2}). Could you send an updated invoice?",
                "Please add our PO number [4411-B|PO-2231|77812] to the invoice for {order}, accounts payable won't process it otherwise.",
            ],
            short=[
                "need an invoice for {order} please",
                "Invoice has wrong VAT number, pls reissue",
                "can I get a receipt/invoice for {order}",
                "Invoice for {plan} please, company name {company}",
            ],
            side=[
                "The items arrived [fine|on time|quickly], it's just the paperwork.",
                "I'm not disputing the charge and I don't need a refund, I just need the document.",
                "I couldn't find a download option in the app, so asking here.",
                "The order and delivery were all fine.",
                "No problem with my account or login, just need the invoice.",
            ],
            extra=[
                "The billing address should be [14 Orchard Lane|Unit 5, Riverside Park|22 Baker Street|the office address].",
                "A PDF by email is fine.",
                "It was paid by card on {date}.",
                "Our VAT number is [GB 123 4567 89|DE811234567|IE6388047V].",
            ],
        ),
        S(  # payment methods
            core=[
                "How do I [update|change] the [card|payment method] on my account? My old card [expired|was replaced|was lost] and the {plan} renews on {date}.",
                "I'd like to switch my {plan} [to PayPal|to a different card|to my business card|to direct debit] for future payments.",
                "Please remove my old [Visa|Mastercard|Amex] ending in {last4} and use the one ending in {last4b} [from now on|for the next renewal].",
                "My card keeps getting declined at checkout [even though|but] my bank says there's nothing wrong on their side. [Is there a limit on your end?|Do you block certain cards?|What payment methods do you accept?]",
                "Can I split the payment for {order} between a gift card and my credit card?",
                "Is it possible to pay by bank transfer instead of card? We're [a small business|a school|a charity] and cards are awkward for us.",
                "My {rel}'s card is still saved as the default payment method. How do I make my own card the default?",
                "The payment for my {plan} failed [this month|on {date}] because the card expired. Where do I enter the new card so I don't lose access?",
            ],
            short=[
                "how to change card on file?",
                "update payment method pls, old card expired",
                "card declined again, bank says it's fine. why?",
                "can i pay with paypal instead of card",
                "remove card ending {last4} please",
            ],
            side=[
                "The site works fine, no errors, it just says the card is declined.",
                "Nothing is broken in the app, I just can't find where to change it.",
                "I don't need a refund, just want future charges to go on the new card.",
                "My order history and deliveries are all fine.",
                "I'm logged in fine, the problem is only the payment details.",
            ],
            extra=[
                "The new card is a [Visa|Mastercard|debit card].",
                "I'd rather not give card details over email.",
                "This is for the {plan}.",
                "Renewal is due on {date}.",
            ],
        ),
        S(  # unexpected / wrong amount / fees
            core=[
                "I was charged {amount} [on {date}|this month] but my {plan} is supposed to be {amount2}. Why is it higher?",
                "What is this {amount} charge from you on my statement? I don't recognise it and can't match it to an order.",
                "My {plan} renewed [automatically|without any reminder] and charged {amount}. Can you explain how the renewal works and [move me to monthly billing|switch me to the annual plan|change the billing date to the 1st]?",
                "The price at checkout was {amount} but my card was charged {amount2}. Is that [currency conversion|tax|a fee I missed]?",
                "Why was there a shipping fee on {order} when the site said free delivery over {amount}? I'd like to understand how the threshold is calculated.",
                "I see a small {amount} charge every month labelled [SVC FEE|MBR-RENEW|HONE*STORE]. What is it for?",
                "My {rel} and I are both being charged for the {plan}. Shouldn't we be on one family bill?",
                "I was charged tax on {order} although I'm in {country}. Can someone explain the tax on my bill?",
            ],
            short=[
                "what is this {amount} charge?",
                "why was I charged {amount} instead of {amount2}",
                "unknown charge on my statement from you, {date}",
                "plan price went up?? charged {amount}",
            ],
            side=[
                "I'm happy to pay if it's correct, I just want to understand the charge.",
                "Not looking for a refund, just an explanation.",
                "The delivery itself was fine and quick.",
                "I checked the app and there's no error, just the amount I don't understand.",
                "I'm not cancelling my account, I just want my bill to make sense.",
            ],
            extra=[
                "My statement says {date}.",
                "I've attached a screenshot.",
                "I thought the price was locked in when I signed up.",
                "I pay in [pounds|euros|dollars].",
            ],
        ),
        S(  # billing details, cycle, billing email
            core=[
                "Please send [invoices|receipts|billing emails] to {email} instead of my login email. [Our bookkeeper handles them.|I want them separate from my personal inbox.]",
                "Can I move my billing date to the [1st|15th|end] of the month? [My salary comes in later|It fits our accounting better].",
                "How do I switch from monthly to annual billing on the {plan}? Will I be charged the full {amount} straight away?",
                "Please update the billing address on my payment details to [14 Orchard Lane, {city}|my new flat in {city}|the office in {city}]. My card issuer keeps flagging the mismatch.",
                "We have five seats on the {plan} but only use three. Can we be billed for three from the next cycle?",
                "Is there a discount for paying yearly? The {plan} is costing me {amount} a month.",
            ],
            short=[
                "switch me to annual billing please",
                "send receipts to {email} pls",
                "change billing date to the 1st?",
            ],
            side=[
                "My login email should stay the same, this is only for billing.",
                "This isn't a refund request, just about future bills.",
                "Nothing wrong with the app, I just can't find the setting.",
            ],
            extra=["Thanks for being flexible.", "Account is under {email2}.", "Happy to confirm details by phone."],
        ),
    ],
    "technical": [
        S(  # crashes
            core=[
                "{app} [crashes|closes itself|freezes] [as soon as I open it|every time I tap on my orders|when I open the basket|since the last update] on my {device}.",
                "Since updating to {appver} the app [won't open|crashes on launch|shows {error} on the home screen]. [I've tried reinstalling.|Restarting the phone didn't help.|Cleared the cache, same thing.]",
                "Every time I try to [view my orders|open a product page|use the search|scroll the home feed] {app} [just dies|freezes|kicks me out] on my {device}. Please fix.",
                "The app on my {rel}'s {device} crashes whenever [the camera opens to scan a code|a notification comes in|you switch to landscape]. Is this a known bug?",
                "{app} keeps crashing on my {device} ({appver}). [Happens every time.|Can't use it at all.|Reinstalled twice.] Is there a fix coming?",
            ],
            short=[
                "app crashes on open. {device}",
                "app keeps crashing since update {appver}",
                "your app freezes on my {device} constantly",
                "crash when I open my orders in the app",
            ],
            side=[
                "My account and orders look fine on the website, it's just the app.",
                "I'm not trying to change anything on my account, I just want to look at my orders.",
                "I don't want a refund, I just want the app to work.",
                "My order was delivered fine, I was just trying to leave a review.",
                "The login works, it crashes right after.",
            ],
            extra=[
                "Screen recording available.",
                "Phone is on the latest OS.",
                "Storage isn't full.",
                "It worked fine last week.",
                "Same on wifi and mobile data.",
            ],
        ),
        S(  # login fails because of a bug
            core=[
                "The login page [throws|gives me|shows] {error} every time I try to sign in on {browser}.",
                "I enter the right password and {app} just [spins forever|reloads the login page|shows {error}]. [Looks like a bug on your side.|Is the site down?|Is there an outage?]",
                "Can't log in on the website - after I press Sign in I get {error}. Logging in on the app on my {device} works fine with the same password.",
                "Sign-in is broken: the 'Log in with Google' button [does nothing|gives {error}|opens a blank popup] on {browser}.",
                "My {rel} and I both get {error} on the login screen since {date}. Different accounts, same error.",
                "Login loops: it accepts my password, then sends me straight back to the login page. Happens on {browser} and {device}.",
            ],
            short=[
                "login page gives {error}",
                "can't sign in, {error} after entering password",
                "login broken on {browser}?? {error}",
                "sign in button does nothing on the website",
            ],
            side=[
                "My password is correct, I can log in on the app fine, it's only the website.",
                "I don't need a password reset, the password works elsewhere.",
                "I already reset my password once and the same error came back, so it's not the password.",
                "It's not just my account, a colleague gets the same error.",
                "My account isn't locked, the page simply crashes.",
            ],
            extra=[
                "Cleared cookies, tried incognito.",
                "Started around {date}.",
                "Tried two browsers.",
                "No VPN or ad blocker on.",
            ],
        ),
        S(  # payment / checkout page bugs
            core=[
                "The payment page [crashes|goes blank|freezes|times out] when I [enter my card details|click Pay|press Place order]. [I can't complete the order.|Tried three times.|Basket is still full.]",
                "Checkout [throws|gives] {error} right after I enter my card. [It's not the card, it works elsewhere.|I tried two different cards.|Was not charged.]",
                "The 'Pay now' button on {app} [does nothing|is greyed out|spins and then shows {error}] on {browser}. I want to place my order but can't.",
                "When I try to pay with PayPal the popup opens and closes immediately and the page shows {error}. Can your developers look at it?",
                "The card form on checkout won't accept my postcode, it says 'invalid' for a valid [UK|US|Canadian] postcode. Pretty sure it's a validation bug.",
                "Applying a promo code at checkout gives {error} and then the whole payment page breaks.",
            ],
            short=[
                "payment page crashes when I click pay",
                "checkout gives {error} after card details",
                "can't pay, pay button greyed out on {browser}",
                "promo code field breaks checkout",
            ],
            side=[
                "My card is fine, it works everywhere else.",
                "I was not charged, the page just dies.",
                "I've tried two different cards, same error, so it's the site.",
                "My bank confirmed no payment attempt even reached them.",
                "I don't need a refund, nothing was charged. I just want to buy the {product}.",
                "Not a billing question, the page is literally broken.",
            ],
            extra=[
                "Basket total was {amount}.",
                "On {browser}, {device}.",
                "Screenshot attached.",
                "Happened on {date} and again today.",
            ],
        ),
        S(  # tracking / order pages broken
            core=[
                "The tracking link in the [shipping|dispatch] email [gives|shows] {error}.",
                "Tapping 'Track order' in {app} [crashes it|does nothing|shows {error}].",
                "The order history page just shows {error}. I can't see any of my past orders.",
                "The order status page for {order} won't load on {browser}, I get {error}.",
                "The map on the tracking page is broken, it just shows a grey box and {error}.",
            ],
            short=[
                "tracking link gives {error}",
                "order history page broken, {error}",
                "track order button does nothing in app",
            ],
            side=[
                "I'm not worried about the parcel, {courier}'s own site shows it's on the way, your page is just broken.",
                "The package already arrived, I only noticed the page is broken.",
                "Not asking where my order is, just reporting the bug.",
                "I don't need a refund or anything, just thought you should know.",
            ],
            extra=["Tried on {device} and {browser}.", "Started after {date}.", "Other pages load fine."],
        ),
        S(  # assorted site bugs incl. invoice download and profile save
            core=[
                "The 'Download invoice' button [gives|shows] {error} [for every order|for {order}].",
                "I can't save changes to my profile, the Save button [gives {error}|does nothing|spins forever]. [Tried several times.|Tried different browsers.]",
                "The password reset link in your email [leads to|opens] {error}. [The link is brand new.|I requested it a minute ago.]",
                "Search returns nothing, even for products I know exist, like the {product}.",
                "Product images don't load on {browser}, just broken image icons everywhere.",
                "Push notifications stopped working after {appver}. Settings say they're on.",
                "My basket empties itself whenever I switch pages on {app}.",
                "The website keeps redirecting me in a loop between the home page and the cart.",
                "In dark mode the text on the settings page is black on black, unreadable. Looks like a bug.",
                "The size filter on the shoes page doesn't do anything, every size shows up.",
                "Emails from you show broken characters like 'Ã©' instead of accents.",
                "Reviews section throws {error} when I try to post a review for the {product}.",
            ],
            short=[
                "invoice download gives {error}",
                "profile save button broken",
                "reset password link gives {error}",
                "search broken, no results for anything",
                "images not loading on {browser}",
            ],
            side=[
                "I can get the invoice from the email, just letting you know the button is broken.",
                "I don't need anything changed on my account by you, the button itself is broken.",
                "It's not a problem with my account, my {rel} sees the same thing.",
                "Not a billing issue, the page errors out.",
                "The order itself is fine and arrived on time.",
            ],
            extra=[
                "On {browser}.",
                "On {device}, {appver}.",
                "Started around {date}.",
                "Happy to send a screenshot.",
                "Cleared cache already.",
            ],
        ),
    ],
    "account": [
        S(  # forgot password, locked out (user's side, not a bug)
            core=[
                "I forgot my password and [can't log in|I'm locked out]. [Can you send me a reset link?|How do I reset it?|Please help me get back in.]",
                "Can't log in - I must have changed my password [at some point|last month] and I don't remember it. Can you help me reset it?",
                "I'm locked out after too many attempts with the wrong password. How long until I can try again, or can you unlock it?",
                "I requested a password reset [twice|three times] but nothing arrived at {email}, [checked spam too|not even in junk]. Can you reset it for me?",
                "My {rel} can't remember the password for their account and the email on it is an old one. How can we get back in?",
                "Please reset my password. [I've tried every one I use.|I'm sure it's a typo I made when I set it.|I don't know it anymore.]",
            ],
            short=[
                "forgot password, need reset link",
                "locked out, too many wrong attempts",
                "can't log in forgot my password",
                "pls reset my password, email {email}",
            ],
            side=[
                "The site itself works fine, it's my fault, I just don't remember the password.",
                "No error or anything, it just says the password is wrong, which it probably is.",
                "I have an order coming so I'd like to get back in and check it.",
                "My card is saved in there so I'd like to get back in before my next order.",
                "It's not a bug, I just typed the wrong password too many times.",
            ],
            extra=[
                "The account email is {email}.",
                "I signed up around {date}.",
                "I'm on {device}.",
                "Username is probably my email.",
            ],
        ),
        S(  # change email
            core=[
                "I'd like to change the email on my account from {email} to {email2}.",
                "How do I update my login email? I [no longer use|lost access to] {email}.",
                "Please change my account email to {email2}. [I left my old job|The old address is being shut down|I'm switching providers].",
                "My {rel} set up the account with their email and I'd like it under my own ({email2}).",
                "The email change option asks me to confirm via the old address, which I can't access anymore. Can you change it to {email2} manually?",
            ],
            short=[
                "change my email to {email2} please",
                "how do I change account email",
                "update login email pls, old one dead",
            ],
            side=[
                "Invoices can still go wherever, this is about logging in.",
                "I still want to keep my order history and saved card.",
                "Nothing is broken, I just don't see the option.",
                "I have an order on the way so I want the delivery updates going to the new address.",
            ],
            extra=[
                "I can verify with my last order number, {order}.",
                "I can confirm my date of birth.",
                "Account created around {date}.",
            ],
        ),
        S(  # profile details
            core=[
                "Please update my [surname|last name] on my profile, I [got married|changed it] recently.",
                "Can I change my username? It's still my old gamer tag from years ago.",
                "I need to change the phone number on my account, I [got a new number|switched carriers]. The old one also gets the two-factor codes.",
                "The date of birth on my profile is wrong and I can't edit it myself. Can you fix it?",
                "Please change the default address saved on my profile to my new place in {city}. No open orders, it's just for the future.",
                "How do I change the language of my account to [French|Spanish|German]?",
                "I'd like to stop all marketing emails and texts from you but keep my account.",
                "Can I merge my two accounts? I accidentally made one with {email} and another with {email2}.",
                "Please turn off two-factor authentication on my account, I lost the phone it was linked to.",
                "Can you add my {rel} as a second user on my account so they can see our orders?",
            ],
            short=[
                "change my username please",
                "update phone number on account",
                "merge my 2 accounts?",
                "unsubscribe me from marketing emails",
                "how to change my name on profile",
            ],
            side=[
                "The profile page works, I just don't have permission to edit that field.",
                "My orders and payments are fine, this is just profile info.",
                "I'm not moving any current order, it's only the saved address.",
                "Still keeping the subscription, nothing to do with billing.",
            ],
            extra=["Account email: {email}.", "I can send ID if needed.", "It's been wrong since {date}."],
        ),
        S(  # close account
            core=[
                "Please [close|delete] my account [and remove my data|permanently]. [I won't be using it anymore.|I'm moving abroad.|I have another account.]",
                "I'd like to deactivate my account. All my orders have arrived and I don't need any refund.",
                "How do I delete my account and all personal data under GDPR?",
                "My {rel} passed away and I'd like to close their account. What do you need from me?",
                "Close my account please. I've cancelled the {plan} already and have nothing pending.",
                "Can you confirm you've deleted my account? I asked on {date} and still get emails.",
            ],
            short=[
                "delete my account",
                "please close my account, email {email}",
                "how do I delete my account + data",
            ],
            side=[
                "Last order {order} arrived fine, so nothing pending on shipping.",
                "No refund needed, I'm just done with it.",
                "Please also remove my saved card details as part of closing it.",
                "The app works fine, I just don't use it anymore.",
                "No complaints, the delivery was always quick.",
            ],
            extra=[
                "The account is under {email}.",
                "Please confirm by email when done.",
                "I've had it since [2018|2019|2020|2021].",
            ],
        ),
    ],
    "shipping": [
        S(  # where is my order
            core=[
                "Where is my order {order}? I ordered it {ndays} days ago and it still hasn't arrived.",
                "My package hasn't arrived yet. The tracking [hasn't updated|has said 'in transit'|has been stuck] since {date}. Can you find out where it is?",
                "I ordered the {product} on {date} and have heard nothing since. [Has it shipped?|Is it on its way?|When will it arrive?]",
                "{order} was marked as dispatched on {date} but {courier} has no record of it. Where is it?",
                "My {rel} ordered the {product} for {event} and it's not here yet. Could you check where the parcel is?",
                "The parcel has been 'out for delivery' for {ndays} days. Please tell me what's happening with {order}.",
                "Only [two|one] of the [three|four] items from {order} arrived. Is the {product} coming separately?",
            ],
            short=[
                "where is my order {order}",
                "parcel still not here, {order}",
                "wheres my package?? ordered {ndays} days ago",
                "any update on {order}? tracking stuck",
                "has {order} shipped yet",
            ],
            side=[
                "I don't want a refund, just tell me where it is.",
                "I'm not asking for my money back, I need the {product} for {event}.",
                "I was charged on {date}, so I know the order went through.",
                "The app shows the order as shipped, no errors, but nothing has come.",
                "Please don't cancel or refund it, I really want it.",
                "The payment went through fine, that's not the problem.",
            ],
            extra=[
                "I'm home all day so nobody missed the driver.",
                "I checked with my neighbours.",
                "Delivery address is correct on the order.",
                "It was sent with {courier}.",
            ],
        ),
        S(  # delays
            core=[
                "Delivery was supposed to be {date} and it's now {ndays} days late. Can you give me an updated delivery date?",
                "Is there a delay with {courier}? My order {order} should have arrived by {date}.",
                "I paid for express delivery but {order} is still sitting at the depot. When will it actually be delivered?",
                "The estimated delivery date keeps moving [back|later] every day. What's the real ETA for {order}?",
                "Will {order} arrive before {event}? The website said {ndays} working days and it's been longer.",
                "Your email says my {product} is delayed due to [high demand|weather|a warehouse issue]. How long is the delay?",
            ],
            short=[
                "order {order} late, new ETA?",
                "delivery delayed again?? when will it come",
                "is there a delay with {courier}?",
                "will {order} arrive before {event}",
            ],
            side=[
                "I'm not after a refund of the shipping, I just want to know when it'll come.",
                "The charge for express showed up on my card straight away.",
                "I'll happily wait, just need a realistic date.",
                "Not a complaint about the product, just the timing.",
            ],
            extra=["It's for {event}.", "Tracking number is on the order page.", "Shipping to {city}."],
        ),
        S(  # address changes for an order
            core=[
                "I need to change the delivery address for {order}. I [moved last week|put my old address by mistake|made a typo in the postcode].",
                "Can you redirect the package for {order} to my [work|office|parents'] address in {city}? I won't be home.",
                "Wrong flat number on {order}, it should be [4B|12|Flat 3] not [14B|21|Flat 8]. Can it still be changed before it ships?",
                "Could {courier} leave {order} at a pickup point instead of my door?",
                "I'm away until {date}. Can you hold {order} at the depot or delay delivery until then?",
            ],
            short=[
                "change delivery address for {order}",
                "wrong postcode on my order, can you fix before shipping?",
                "redirect parcel to work address pls",
            ],
            side=[
                "Don't cancel it, I still want it.",
                "The address on my profile is right, it's just this order.",
                "No refund needed, just the address.",
                "I've already paid so I'd rather not reorder.",
            ],
            extra=[
                "New address: [22 Baker Street|5 Mill Road|Unit 9, Harbour Way], {city}.",
                "It was placed on {date}.",
                "Same phone number as before.",
            ],
        ),
        S(  # marked delivered but not received
            core=[
                "Tracking says {order} was delivered on {date} but nothing is here. [I checked with the neighbours.|There's nothing in the mailbox.|I was home all day.] Can you look into it with {courier}?",
                "{courier} says my parcel was left [in a safe place|with a neighbour|at the door] but I can't find it anywhere. Can you find out where they actually left it?",
                "The photo proof of delivery for {order} shows a door that isn't mine. Can you contact the driver?",
                "My {rel} says the package was marked delivered at our building but it's not in the post room. Who do I talk to?",
            ],
            short=[
                "says delivered but not here, {order}",
                "parcel marked delivered, never got it",
                "delivered to wrong door? {order}",
            ],
            side=[
                "I'd rather have the item than a refund.",
                "Please don't just refund me, I need the {product}.",
                "I paid {amount} for it so I'd really like it found.",
            ],
            extra=["It was sent with {courier}.", "Delivery window was {date}.", "Our building has a concierge."],
        ),
        S(  # shipping options / questions before ordering
            core=[
                "Do you ship to {country}? And roughly how long does it take?",
                "How long does standard delivery take to {city}? I want to order the {product} for {event}.",
                "Can I pick up {order} at your warehouse instead of waiting for delivery?",
                "Is next-day delivery available on weekends?",
                "Can I combine the shipping on {order} and {order2} since they go to the same address?",
                "Which courier do you use for {country}? The last parcel got stuck in customs for ages.",
            ],
            short=[
                "do you ship to {country}?",
                "delivery time to {city}?",
                "weekend delivery available?",
            ],
            side=[
                "I'll pay the extra shipping charge if it's faster.",
                "Happy to pay for express if needed.",
                "Your app doesn't show the option, so asking here.",
            ],
            extra=["It's for {event}.", "I'm in {city}.", "I order from you regularly."],
        ),
    ],
    "refund": [
        S(  # damaged / faulty
            core=[
                "The {product} arrived [broken|damaged|cracked|not working]. I want [a refund|my money back], please.",
                "My {product} stopped working after {ndays} days. I'd like a full refund, not a replacement.",
                "The {product} from {order} arrived [smashed|dented|with parts missing]. Please refund the {amount} to my card.",
                "My {rel} opened the {product} and it was clearly used. We want our money back.",
                "The {product} is faulty [out of the box|from day one]. How do I get a refund?",
            ],
            short=[
                "{product} arrived broken, want refund",
                "faulty {product}, money back please",
                "refund for damaged item {order}",
            ],
            side=[
                "Don't bother sending a replacement.",
                "The shipping was quick but the item was [smashed|faulty|useless].",
                "I paid {amount} with my card and I'd like it back on the same card.",
                "Delivery was fine, the product isn't.",
                "Please don't just send store credit.",
            ],
            extra=["Photos attached.", "Box was [damaged|fine] on arrival.", "Order {order}, delivered {date}."],
        ),
        S(  # return for refund / refund status
            core=[
                "I'd like to return the {product} for a [full|] refund. [It doesn't fit.|Not what I expected.|Changed my mind.] How do I send it back?",
                "How do I send back {order} and get my money back? [It's within the 30 days.|I haven't opened it.]",
                "I sent the return back on {date} [via {courier}|with the prepaid label]. When will the refund show up on my card?",
                "Where is my refund? The tracking shows you received my return on {date} and it's been {ndays} days.",
                "I only got {amount} back but paid {amount2} for {order}. Where's the rest of my refund?",
                "Can you email me a return label? I want to send back the {product} and get refunded.",
                "My {rel} returned the {product} at your store but the refund never came through to the card.",
            ],
            short=[
                "return {product} for refund pls",
                "where is my refund? return delivered {date}",
                "need a return label, want my money back",
                "refund still not received for {order}",
            ],
            side=[
                "I'll pay the return shipping if I have to.",
                "The {courier} tracking shows the parcel reached you.",
                "The original charge was {amount} on my [Visa|Mastercard|debit card].",
                "Not interested in an exchange.",
                "The order arrived quickly, I just don't want it.",
            ],
            extra=["Order number {order}.", "Still in the original packaging.", "Bought on {date}."],
        ),
        S(  # cancelled but charged
            core=[
                "I cancelled {order} [right after|within an hour of|the same day as] placing it but I was still charged {amount}. Please refund it.",
                "You cancelled my order because the {product} was out of stock, but the {amount} is still gone from my account. I want it back.",
                "My order was cancelled on {date} and I haven't received the money back yet. When will I be refunded?",
                "The order was cancelled by you, but the charge of {amount} is still on my card. Give me my money back please.",
            ],
            short=[
                "cancelled order still charged, refund pls",
                "order cancelled, where's my money",
                "refund the {amount} for cancelled {order}",
            ],
            side=[
                "The order never shipped, so there's nothing to send back.",
                "I got a cancellation email but no refund email.",
                "The charge isn't pending anymore, it's posted.",
                "Nothing was delivered, obviously.",
            ],
            extra=["Cancellation confirmation number [C-4412|CX88120|#5521].", "Paid by card ending {last4}."],
        ),
        S(  # late delivery / shipping fee refund
            core=[
                "{order} arrived {ndays} days late, after {event}. I want a refund [for the whole order|of the express shipping I paid for].",
                "I paid {amount} for next-day delivery and it took a week. Please refund the shipping cost.",
                "The parcel came too late for {event} so I no longer need it. I'll send it back, I just want my money refunded.",
                "Your courier lost {order} for {ndays} days and it finally showed up damaged. I want my money back.",
            ],
            short=[
                "refund express shipping, it came late",
                "arrived after {event}, want refund",
                "paid for next day, took a week. refund shipping fee",
            ],
            side=[
                "The item itself is fine, the shipping wasn't.",
                "I was charged full price for express delivery.",
                "Tracking showed it sitting at the depot for days.",
            ],
            extra=["Delivered {date}.", "Sent with {courier}.", "I have the tracking history."],
        ),
        S(  # renewed / billed after cancelling, unused
            core=[
                "I forgot to cancel and my {plan} renewed for {amount}. I haven't used it at all since. Can I get that money back?",
                "I cancelled my {plan} on {date} but was billed again anyway. Please refund the last payment.",
                "The {plan} didn't include what the page promised, so I'd like a refund for this month ({amount}).",
                "My {rel} signed up for the {plan} on my card by mistake. We've never used it, please refund the {amount}.",
            ],
            short=[
                "refund my renewal, didn't mean to renew",
                "billed after cancelling, want my money back",
                "refund {plan} charge pls, never used it",
            ],
            side=[
                "I was charged {amount} on {date} without any reminder.",
                "The charge shows on my statement as [HONE*STORE|MBR-RENEW].",
                "My account shows zero usage since the renewal.",
                "I don't need an explanation of the billing, just the money.",
            ],
            extra=["Card ending {last4}.", "I've been a customer since [2019|2020|2021].", "I cancelled in the app."],
        ),
        S(  # wrong item
            core=[
                "I received the wrong [size|colour|item] in {order}. I don't want an exchange, please refund me.",
                "I was sent the {product} instead of what I actually ordered. Refund please, I'll send it back.",
                "{order} came with someone else's order inside. I'd like my {amount} back rather than waiting for a resend.",
            ],
            short=[
                "wrong item sent, refund please",
                "got the wrong size, just refund me",
            ],
            side=[
                "Delivery was fast, it's just the wrong thing.",
                "Please don't ship a replacement.",
                "I paid {amount} with my card.",
            ],
            extra=["Order {order}.", "Photos attached.", "Still in the packaging."],
        ),
    ],
    "feedback": [
        S(  # compliments
            core=[
                "Just wanted to say [thanks|great job|well done]! [The delivery was super fast.|My order arrived a day early.|The {product} is fantastic.]",
                "Shoutout to {agent}, who sorted out my [refund|account|billing question] really quickly [last week|on {date}]. Great service.",
                "Ordered the {product} on {date} and it arrived [the next day|in two days|before I expected]. Really impressed, keep it up.",
                "The new app update is [so much faster|really smooth|a big improvement]. Nice work to whoever built it.",
                "My {rel} loved the {product}, thanks for the lovely packaging and the handwritten note.",
                "Your returns process was [painless|super easy|quick] and the refund came through in two days. That's why I keep buying from you.",
            ],
            short=[
                "love the new app, great job",
                "fast delivery, thanks!",
                "{agent} was super helpful, thanks",
                "great service as always",
            ],
            side=[
                "No action needed, just wanted to pass it on.",
                "You don't need to reply.",
                "Even the courier was friendly.",
                "I'll definitely be ordering again.",
            ],
            extra=["Five stars from me.", "I've told all my friends.", "Been a customer since [2017|2019|2022]."],
        ),
        S(  # suggestions / feature requests
            core=[
                "It would be great if {app} had [dark mode|a wishlist|a reorder button|a size guide].",
                "Feature request: let us pay with [Apple Pay|Google Pay|Klarna|crypto]. [I'd use it every time.|Most shops have it now.]",
                "Suggestion: let me export all my invoices as [a CSV|one PDF] for my taxes. Downloading them one by one is tedious.",
                "Could you add a map to the tracking page so I can see where the driver is? Other shops do this.",
                "It'd be nice to save more than one delivery address on my account.",
                "Please consider an option to choose the delivery day at checkout.",
                "Idea: send an email reminder a week before the {plan} renews. Would make people trust you more.",
                "You should let customers choose plastic-free packaging.",
                "Would love a family account where my {rel} and I can share one {plan}.",
            ],
            short=[
                "please add dark mode",
                "suggestion: apple pay at checkout",
                "feature request: wishlist",
                "add a delivery map please",
            ],
            side=[
                "Not a complaint, everything works fine.",
                "My orders always arrive on time, this is just an idea.",
                "No need for a refund or anything, just a suggestion.",
                "I know it's not a bug, just would make life easier.",
            ],
            extra=["Thanks for listening.", "Happy to beta test.", "Lots of people in the reviews ask for this too."],
        ),
        S(  # opinions / complaints without an ask
            core=[
                "The new app design is [confusing|cluttered|hard to read]. I liked the old one better. [Just my opinion.|Not a bug, just feedback.]",
                "Your prices have gone up a lot lately. I'm still a customer, but it's noticeable.",
                "There's way too much plastic in the packaging for such a small {product}.",
                "Checkout has too many steps now. It works, but it feels slow compared to before.",
                "The emails you send are too frequent, [almost daily|three a week]. Just feedback.",
                "Honestly, your delivery used to be quicker. Not complaining about one order, just a general impression.",
                "The refund policy on your site is hard to find and confusing to read. Might want to make it clearer.",
                "I think the {plan} is good value, but the sign-up page oversells it a bit.",
            ],
            short=[
                "new design is worse imo",
                "too much packaging plastic",
                "prices went up a lot, not happy",
                "checkout has too many steps",
            ],
            side=[
                "I don't need a refund or a reply, just wanted to say it.",
                "Everything arrived fine, this is just my opinion.",
                "The app isn't broken, I just don't like the layout.",
                "My account is fine, no action needed.",
            ],
            extra=["Been ordering for [years|a while].", "Hope this is useful.", "Take it or leave it."],
        ),
    ],
}

# ---------------------------------------------------------------------------
# Contrast pairs. Two classes share one pool of situations; the label is set by
# which want the customer asks for and which one they turn down, e.g.
# "I don't want a refund, I want the parcel" (shipping) against
# "I don't want the parcel anymore, I want a refund" (refund). The ask and
# refusal frames are shared by every class, so word counts alone cannot tell
# the two directions apart. `np` lists the wants as noun phrases; `ask`/`neg`
# add whole sentences; `why` gives an optional reason that fits only one side.
# ---------------------------------------------------------------------------

ASK_FRAMES = [
    "I want {np}.",
    "I'd like {np}, please.",
    "All I'm asking for is {np}.",
    "Can I please get {np}?",
    "What I need is {np}.",
    "I just want {np}.",
    "I'm after {np}.",
    "Please just sort out {np}.",
    "I'd really appreciate {np}.",
    "I need {np}.",
    "What I'm asking for is {np}.",
    "Could you arrange {np}?",
    "I'm hoping for {np}.",
]
NEG_FRAMES = [
    "I don't want {np}.",
    "I'm not asking for {np}.",
    "I don't need {np}.",
    "No need for {np}.",
    "Not looking for {np}.",
    "I'm not after {np}.",
    "I was offered {np} but that's not what I want.",
    "Please don't offer me {np}.",
    "{np} won't help me.",
    "I'm not interested in {np}.",
    "Forget about {np}.",
    "I'm not bothered about {np}.",
    "Don't bother with {np}.",
]
LEADS = ["", "", "", "To be clear, ", "Just to be clear: ", "Honestly, ", "So ", "Basically ", "And "]

PAIRS: list[dict] = [
    dict(  # late / lost parcel: chase it, or give the money back
        labels=("shipping", "refund"),
        context=[
            "I ordered the {product} on {date} [and paid {amount}|for {amount}|]. [It still hasn't arrived.|Tracking has been stuck at the depot since {date2}.|{courier} says it's 'delayed'.|It was due on {date2} and nothing has come.]",
            "{order} was supposed to arrive by {date}. It's now {ndays} days late and {courier} can't tell me anything.",
            "My parcel ({order}) has been 'in transit' for {ndays} days[ now|].",
            "Tracking for {order} says delivered on {date} but there's nothing here[, I've checked with the neighbours|].",
            "Still no sign of {order}. [I paid {amount} for express delivery too.|It shipped on {date}.|I was charged on {date} straight away.]",
            "My {rel} ordered the {product} for {event} and the parcel has been stuck with {courier} for {ndays} days.",
            "The {product} I ordered on {date} has gone missing somewhere between your warehouse and my door.",
        ],
        np={
            "shipping": [
                "the parcel",
                "my order",
                "the {product}",
                "an actual delivery date",
                "an update on where it is",
                "someone to chase {courier}",
                "the parcel tracked down",
                "the delivery",
                "a redelivery",
                "the {product} in my hands",
                "a proper answer on where the parcel is",
            ],
            "refund": [
                "a refund",
                "my money back",
                "the {amount} back",
                "a full refund",
                "my money returned to my card",
                "a refund for the order",
                "the money refunded",
                "a refund to the original card",
            ],
        },
        why={
            "shipping": [
                "I need it for {event}.",
                "I really want the {product}.",
                "It's a gift and I can't get it anywhere else.",
                "I'm happy to wait a bit longer.",
            ],
            "refund": [
                "I've already bought one elsewhere.",
                "It's too late for {event} now anyway.",
                "Even if it turns up now I'll send it straight back.",
                "I've given up on this order.",
            ],
        },
    ),
    dict(  # a charge: explain or correct it, or give the money back
        labels=("billing", "refund"),
        context=[
            "I was charged twice for {order}, {amount} each, on {date}.",
            "There's a {amount} charge on my card from {date} that I don't recognise.",
            "My {plan} renewed on {date} and took {amount}[ without any reminder|].",
            "I was charged {amount} but the checkout said {amount2}.",
            "I got charged a {amount} shipping fee on {order} even though it was over the free delivery threshold.",
            "My statement shows {amount} from you on {date} and another {amount2} on {date2}.",
            "After I downgraded my {plan} I was still charged the old price of {amount}.",
            "My {rel} noticed two charges from you on our card this month.",
        ],
        np={
            "billing": [
                "an explanation",
                "an explanation of the charge",
                "clarity on which charge is real",
                "a corrected invoice",
                "a fix to my billing going forward",
                "a breakdown of the bill",
                "a new billing date",
                "a proper invoice showing the right amount",
                "confirmation that it is just a temporary hold",
                "the correct price on future bills",
            ],
            "refund": [
                "a refund",
                "my money back",
                "the extra money back",
                "the charge refunded",
                "the {amount} back on my card",
                "a refund of the difference",
                "the fee refunded",
                "the money returned",
            ],
        },
        why={
            "billing": [
                "I'm keeping the order.",
                "I'm happy to stay on the plan.",
                "I just want my statement to make sense.",
                "I'll pay whatever is correct.",
            ],
            "refund": [
                "I never agreed to this.",
                "I haven't used it at all.",
                "I need that money back this week.",
                "I shouldn't have paid it in the first place.",
            ],
        },
    ),
    dict(  # payment fails: the site is broken, or the card/payment method is the problem
        labels=("technical", "billing"),
        context=[
            "I tried to pay for {order} with my card [three times|twice|this morning] and it didn't go through.",
            "Checkout fails every time I try to pay for the {product}.",
            "My payment for the {plan} failed on {date}.",
            "I'm trying to pay the {amount} for my basket and it won't go through[ on {app}| on {browser}|].",
            "I can't complete the payment for my order[ on {device}|], it just fails at the card step.",
            "Paying for the {plan} renewal doesn't work[ since {date}|].",
        ],
        np={
            "technical": [
                "a fix for the checkout",
                "a fix for the payment page",
                "someone technical to look at the error",
                "a working checkout",
                "a bug fix on the payment page",
                "your developers looking at it",
                "a working Pay button",
            ],
            "billing": [
                "an update to my card details",
                "a different payment method",
                "a change of saved card",
                "help with the card on file",
                "the option to pay by bank transfer",
                "a new default card",
                "the new card on my account",
            ],
        },
        why={
            "technical": [
                "The page shows {error}.",
                "The card works everywhere else.",
                "The page goes blank after I press Pay.",
                "It happens with every card I try.",
            ],
            "billing": [
                "The card on file expired last month.",
                "The message just says 'card declined'.",
                "I've got a new card since.",
                "My bank changed my card number.",
            ],
        },
    ),
    dict(  # can't log in: a bug, or a forgotten password
        labels=("technical", "account"),
        context=[
            "I can't log in to my account[ on {browser}| on {app}| since {date}|].",
            "Haven't been able to sign in since {date}.",
            "Every time I try to log in it fails[ on {device}|].",
            "I'm trying to get into my account to check {order} and can't.",
            "My {rel} can't get into their account on {app}.",
            "Login isn't working for me[ at all|, tried several times].",
        ],
        np={
            "technical": [
                "a fix for the login page",
                "a fix for the login error",
                "someone to look at the error",
                "a working sign-in page",
                "a bug fix",
                "your developers checking the login page",
            ],
            "account": [
                "a password reset",
                "a reset link",
                "my password reset",
                "a new password",
                "my account unlocked",
                "the lockout removed",
                "a reset email sent to {email}",
            ],
        },
        why={
            "technical": [
                "It shows {error}.",
                "The password is definitely right, it works on the app.",
                "The page just reloads after I press Sign in.",
                "Other people at work get the same error.",
            ],
            "account": [
                "I honestly don't remember the password.",
                "It says wrong password, probably because it is.",
                "I got locked out after too many tries.",
                "I think I changed the password and forgot it.",
            ],
        },
    ),
    dict(  # new email address: login email, or where bills go
        labels=("account", "billing"),
        context=[
            "I've left my job and no longer have access to {email}.",
            "I've switched email providers; {email} is being shut down.",
            "My new email address is {email2}.",
            "I'm not using {email} anymore, please use {email2}.",
            "We've changed our company email domain, so {email} will stop working soon.",
        ],
        np={
            "account": [
                "a change of my login email to {email2}",
                "an update to the email on my account",
                "my account moved to {email2}",
                "a new sign-in email",
                "a change of username to {email2}",
            ],
            "billing": [
                "the invoices going to {email2}",
                "receipts sent to {email2}",
                "a change of billing email",
                "invoices at the new address",
                "a new billing contact address",
            ],
        },
        why={
            "account": ["I need to be able to log in with it.", "Password resets still go to the old one."],
            "billing": ["Our accountant needs the invoices.", "I need the receipts for expenses."],
        },
    ),
    dict(  # moved house: this order's delivery, or the saved profile address
        labels=("shipping", "account"),
        context=[
            "I've just moved to {city}.",
            "My address has changed, I'm now in {city}.",
            "We moved house last week[ to {city}|].",
            "New address from {date}: [22 Baker Street|5 Mill Road|Unit 9, Harbour Way], {city}.",
        ],
        np={
            "shipping": [
                "a change of delivery address on {order}",
                "{order} redirected to the new address",
                "the parcel for {order} rerouted to {city}",
                "a redirect on my current order",
            ],
            "account": [
                "an update to the saved address on my profile",
                "a new default address on my account",
                "a profile update",
                "the address in my profile corrected",
            ],
        },
        why={
            "shipping": ["{order} is already on its way.", "It ships tomorrow."],
            "account": ["There's nothing on order right now.", "It's just for future orders."],
        },
    ),
    dict(  # tracking: the page is broken, or the parcel isn't moving
        labels=("technical", "shipping"),
        context=[
            "I've been checking the tracking for {order} every day.",
            "I tried to track {order} on your site[ and in the app|].",
            "The tracking link for {order} in your email isn't helping.",
            "I'm trying to follow the delivery of the {product}.",
        ],
        np={
            "technical": [
                "a fix for the tracking page",
                "a working tracking page",
                "a fix for the tracking error",
                "someone to fix the track order button",
            ],
            "shipping": [
                "the parcel",
                "an update on where {order} is",
                "a delivery date",
                "the delivery itself",
                "someone to chase {courier}",
            ],
        },
        why={
            "technical": ["The page just shows {error}.", "{courier}'s own site shows it fine."],
            "shipping": ["It hasn't moved in {ndays} days.", "It was due on {date}."],
        },
    ),
    dict(  # the app crashed mid-payment: fix the crash, or give the money back
        labels=("technical", "refund"),
        context=[
            "{app} crashed in the middle of paying for {order}[ and now I have two orders| and I got charged anyway|].",
            "Your checkout froze while I was paying and I was charged {amount}[ twice|].",
            "The app closed itself during payment on {date} and the {amount} still left my account.",
        ],
        np={
            "technical": ["a bug fix", "someone to look at the crash", "a fix for the app", "a fix for the checkout"],
            "refund": ["my money back", "a refund for the duplicate", "the {amount} back", "a refund"],
        },
        why={
            "technical": ["It will happen to other people too.", "It's crashed like this three times now."],
            "refund": ["I'm not ordering again.", "I didn't get anything for it."],
        },
    ),
    dict(  # the new app design: just an opinion, or something actually broken
        labels=("feedback", "technical"),
        context=[
            "Since the [latest|new] update {app} looks completely different.",
            "The new checkout layout on {app} [is a big change|came out this week].",
            "You redesigned the account page on {app} recently.",
            "The menu in {app} moved after the update.",
        ],
        ask={
            "feedback": [
                "Just wanted to say I find it confusing. No action needed.",
                "Not a big deal, just my opinion: it's harder to use now.",
                "Just feedback: I preferred the old one.",
                "I like it a lot, just wanted to say so.",
                "Honestly it looks great. Well done.",
            ],
            "technical": [
                "The Save button actually doesn't work.",
                "Please fix it, the basket button does nothing.",
                "It's a bug: the menu won't open at all.",
                "The Next button throws {error}.",
                "Half the screen is cut off and I can't tap Continue.",
            ],
        },
        neg={
            "feedback": [
                "This isn't just about the looks.",
                "It's not a matter of taste.",
                "I'm not writing to complain about the design.",
            ],
            "technical": [
                "It's not broken.",
                "Nothing is actually broken.",
                "It's not a bug, everything works.",
                "No error or anything.",
            ],
        },
    ),
    dict(  # returns: praise for a quick refund, or a refund that hasn't come
        labels=("feedback", "refund"),
        context=[
            "I returned the {product} [last week|on {date}|with {courier}].",
            "I sent back {order} a while ago.",
            "My {rel} returned the {product} to you on {date}.",
        ],
        ask={
            "feedback": [
                "The refund came through in [two days|no time], so just wanted to say thanks.",
                "Just a compliment: the whole return and refund took [a few days|under a week].",
                "Smoothest return I've done, the money is already on my card. Nothing needed, just thanks.",
                "Quick refund, friendly courier, very happy. No reply needed.",
            ],
            "refund": [
                "The refund still hasn't come through, please [send it|process it].",
                "It's been {ndays} days and no refund on my card. Where is my money?",
                "Please refund the {amount}, nothing has arrived on my card.",
                "I still haven't been refunded. Please chase it.",
            ],
        },
    ),
    dict(  # deliveries: praise for the fast one, or where is the other one
        labels=("feedback", "shipping"),
        context=[
            "The {product} came the next day, [great job|impressive|brilliant].",
            "Super fast delivery on the {product}, thanks.",
            "{courier} brought the {product} a day early.",
        ],
        ask={
            "feedback": [
                "Nothing needed, just wanted to say thanks.",
                "Just passing on a compliment.",
                "Keep it up, no reply needed.",
                "That's all, you don't need to reply.",
            ],
            "shipping": [
                "But the second parcel from {order} hasn't come. Where is it?",
                "The rest of {order} is still missing though, when will it arrive?",
                "But where is the other half of my order?",
                "Can you check on the second box? Tracking hasn't moved since {date}.",
            ],
        },
    ),
    dict(  # payment options: a suggestion, or switching one's own payment method
        labels=("feedback", "billing"),
        context=[
            "I mostly pay with [PayPal|Apple Pay|Google Pay|my credit card].",
            "I noticed the payment options at checkout [changed|are limited].",
            "About paying for the {plan}.",
        ],
        ask={
            "feedback": [
                "It would be great if you also took [Klarna|Apple Pay|crypto]. Just a suggestion.",
                "Idea: let people pay with [Klarna|Apple Pay|Google Pay]. No action needed.",
                "Would be nice to have more payment options one day.",
            ],
            "billing": [
                "Please switch my {plan} to [PayPal|my new Visa ending {last4}|Apple Pay].",
                "How do I change the card my {plan} is billed to?",
                "Please move my billing over to [PayPal|direct debit] from the next payment.",
            ],
        },
    ),
]

# A second, minor issue appended to ~5% of tickets. The main ask (and label) stays the ticket's own.
SECONDARY = {
    "billing": [
        "Also, the invoice for my last order still has my old address on it, but that can wait.",
        "Separately, I think I was charged twice last month, I'll check my statement later.",
        "Side note: I'd like receipts to go to {email2} at some point.",
    ],
    "technical": [
        "The app also crashed twice while I was trying to check this, btw.",
        "Also your site gave me {error} when I first tried to write this.",
        "Btw the order page in the app is really glitchy at the moment.",
    ],
    "account": [
        "At some point I also need to change my account email to {email2}, but not urgent.",
        "Also I'd like to change my username eventually.",
        "Unrelated, but I'm not getting the two-factor texts on my new number.",
    ],
    "shipping": [
        "My other parcel, {order2}, still isn't here either btw.",
        "Also, the tracking for my other order hasn't moved in days.",
        "Also, the courier was late again on my last delivery.",
    ],
    "refund": [
        "I'm also still waiting on a refund from last month, but that's another ticket.",
        "Also I may want to return the {product} later, we'll see.",
        "And I'm still owed {amount2} from an old return.",
    ],
    "feedback": [
        "Love the new app design by the way.",
        "Your delivery drivers are always lovely, by the way.",
        "Btw please add dark mode one day.",
    ],
}
TWO_ISSUE_JOIN = [
    "{main} {second}",
    "{second} Anyway, main thing: {main}",
    "{main} Oh and {second_lc}",
    "Two things. {main} {second}",
    "{second} But what I really need: {main}",
]

# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------

ALT = re.compile(r"\[([^\[\]]*)\]")
SLOT = re.compile(r"\{(\w+)\}")


def expand(template: str, rng: random.Random, ctx: dict[str, str]) -> str:
    """Resolve `[a|b]` alternatives and `{slot}` fillers (recursively)."""
    while (m := ALT.search(template)) is not None:
        template = template[: m.start()] + rng.choice(m.group(1).split("|")) + template[m.end() :]

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in ctx:
            return ctx[name]
        source = SLOTS[name]
        value = source(rng) if callable(source) else rng.choice(source)  # type: ignore[arg-type]
        value = expand(value, rng, ctx)
        if name in PER_TICKET:
            ctx[name] = value
        return value

    return SLOT.sub(fill, template)


def sentence_case(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([.,!?)])", r"\1", text)
    return re.sub(r"(^|[.!?] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


def typos(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(words))
        w = words[i]
        if len(w) < 4 or not w.isalpha():
            continue
        j = rng.randrange(1, len(w) - 1)
        kind = rng.randrange(3)
        if kind == 0:
            w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
        elif kind == 1:
            w = w[:j] + w[j + 1 :]
        else:
            w = w[:j] + w[j] + w[j:]
        words[i] = w
    return " ".join(words)


def weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _lead(lead: str, sentence: str) -> str:
    if not lead:
        return sentence
    first = sentence.split(" ", 1)[0]
    keep = first in ("I", "I'm", "I'd", "I've") or first[:1].isdigit() or first[:1] in "#{" or "@" in first
    return lead + (sentence if keep else sentence[:1].lower() + sentence[1:])


def _want(pair: dict, label: str, kind: str, rng: random.Random, ctx: dict[str, str]) -> str | None:
    """A sentence asking for (kind='ask') or turning down (kind='neg') what `label` is about."""
    nps = pair.get("np", {}).get(label)
    sentences = pair.get(kind, {}).get(label)
    if nps and (not sentences or rng.random() < 0.6):
        frames = ASK_FRAMES if kind == "ask" else NEG_FRAMES
        return expand(rng.choice(frames).replace("{np}", rng.choice(nps)), rng, ctx)
    return expand(rng.choice(sentences), rng, ctx) if sentences else None


def pair_body(label: str, rng: random.Random, ctx: dict[str, str], terse: bool) -> str:
    """A contrast-pair ticket: shared situation, the ask for `label`, a refusal of the other class's want."""
    pair = rng.choice([p for p in PAIRS if label in p["labels"]])
    other = next(x for x in pair["labels"] if x != label)
    ask = _want(pair, label, "ask", rng, ctx)
    neg = _want(pair, other, "neg", rng, ctx)
    wants = [x for x in (ask, neg) if x]
    rng.shuffle(wants)
    if not terse and not wants[0].startswith(("But", "The", "Can", "How", "Please")):
        wants[0] = _lead(rng.choice(LEADS), wants[0])
    if terse:
        return " ".join(wants)
    parts = [expand(rng.choice(pair["context"]), rng, ctx), *wants]
    if pair.get("why") and rng.random() < P_WHY:
        parts.insert(rng.randint(1, len(parts)), expand(rng.choice(pair["why"][label]), rng, ctx))
    return " ".join(parts)


def plain_body(scenario: dict, rng: random.Random, ctx: dict[str, str], terse: bool) -> str:
    """A single-scenario ticket: the problem and ask, maybe a label-safe side remark and a detail."""
    if terse:
        text = expand(rng.choice(scenario["short"]), rng, ctx)
        if rng.random() < 0.35:
            text = text if text[-1] in "!?" else text.rstrip(".") + "."
            text += " " + expand(rng.choice(scenario["side"]), rng, ctx)
        return text
    body = [expand(rng.choice(scenario["core"]), rng, ctx)]
    if rng.random() < P_SIDE:
        body.insert(rng.choice([0, 1, 1, 1]), expand(rng.choice(scenario["side"]), rng, ctx))
    if rng.random() < P_EXTRA:
        body.append(expand(rng.choice(scenario["extra"]), rng, ctx))
    return " ".join(body)


def _greeting(rng: random.Random, ctx: dict[str, str]) -> str:
    g = expand(rng.choice(GREETINGS), rng, ctx)
    return g if g[-1] in ",.!" else g + rng.choice([",", ",", ",", "!", " -", ""])


def make_ticket(label: str, rng: random.Random) -> tuple[str, str]:
    """One ticket of `label`, and its kind: plain or pair, "+second" when it raises a second issue."""
    ctx: dict[str, str] = {}
    style = weighted(rng, STYLES)
    if label == "feedback" and style == "angry":  # "no reply needed" clashes with "answer me today"
        style = "plain"
    terse = style == "terse"
    kind = "pair" if rng.random() < P_PAIR and not (terse and label == "feedback") else "plain"
    if kind == "pair":
        main = pair_body(label, rng, ctx, terse)
    else:
        main = plain_body(rng.choice(SCENARIOS[label]), rng, ctx, terse)
    if terse:
        text = " ".join(main.split())
        text = text if rng.random() < 0.5 else sentence_case(text)
        return (typos(text, rng) if rng.random() < P_TYPOS else text), kind

    if rng.random() < P_TWO_ISSUES:
        kind += "+second"
        other = rng.choice([x for x in LABELS if x != label])
        second = expand(rng.choice(SECONDARY[other]), rng, ctx)
        join = rng.choice(TWO_ISSUE_JOIN)
        main = join.format(main=main, second=second, second_lc=second[0].lower() + second[1:])

    text = sentence_case(" ".join(wrap(main, style, rng, ctx)))
    if style == "angry" and rng.random() < 0.4:
        text = text.replace(".", "!", 1)
    if rng.random() < 0.08:
        text = text.lower()
    if rng.random() < P_TYPOS:
        text = typos(text, rng)
    return text, kind


def wrap(main: str, style: str, rng: random.Random, ctx: dict[str, str]) -> list[str]:
    """The ticket body with the greeting, preamble and sign-off its register calls for."""
    chatty = style in ("polite", "rambling")
    parts: list[str] = []
    if chatty or (style == "plain" and rng.random() < 0.3):
        parts.append(_greeting(rng, ctx))
    if rng.random() < 0.06:
        parts.append(expand(rng.choice(ON_BEHALF), rng, ctx))
    rambles = [expand(r, rng, ctx) for r in rng.sample(RAMBLE, 2)]
    if style == "rambling":
        parts.append(rambles[0])
    if style == "angry":
        parts.append(rng.choice(ANGRY))
    parts.append(main)
    if style == "rambling" and rng.random() < 0.5:
        parts.append(rambles[1])
    if style == "angry":
        parts.append(rng.choice(URGENT))
    if chatty or (style == "plain" and rng.random() < 0.25):
        parts.append(expand(rng.choice(SIGNOFFS), rng, ctx))
    return [p for p in parts if p]


def _tokens(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z]+", text.lower()))


def generate(n: int, seed: int) -> tuple[list[dict[str, str]], Counter[str]]:
    """`n` distinct tickets (shuffled) and how many of each kind were made."""
    rng = random.Random(seed)
    targets = {label: round(n * share) for label, share in SHARES.items()}
    targets["shipping"] += n - sum(targets.values())
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    token_sets: list[frozenset[str]] = []
    kinds: Counter[str] = Counter()
    for label in LABELS:
        made, tries = 0, 0
        while made < targets[label]:
            tries += 1
            if tries > 200 * targets[label]:
                raise RuntimeError(f"could not make {targets[label]} distinct {label!r} tickets")
            text, kind = make_ticket(label, rng)
            words = len(text.split())
            key = " ".join(text.split()).casefold()
            if not MIN_WORDS <= words <= MAX_WORDS or len(text) > MAX_CHARS or key in seen:
                continue
            toks = _tokens(text)
            if any(len(toks & other) / len(toks | other) >= NEAR_DUP_JACCARD for other in token_sets):
                continue
            seen.add(key)
            token_sets.append(toks)
            rows.append({"text": text, "label": label})
            kinds[kind] += 1
            made += 1
    rng.shuffle(rows)
    return rows, kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=13, help="random seed (default 13)")
    parser.add_argument("--n", type=int, default=900, help="number of tickets (default 900)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).with_name("tickets.jsonl"),
        help="output JSONL path (default: tickets.jsonl next to this script)",
    )
    args = parser.parse_args()
    rows, kinds = generate(args.n, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    labels = Counter(row["label"] for row in rows)
    print(f"wrote {len(rows)} tickets to {args.out}")
    print("labels: " + ", ".join(f"{label} {labels[label]}" for label in LABELS))
    print("kinds:  " + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())))


if __name__ == "__main__":
    main()
