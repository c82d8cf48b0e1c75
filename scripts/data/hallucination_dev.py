"""A small hand-written development set of RAG answers for the hallucination combiner, written
for issue 10 by the helper that built the claim-level model, without reading the frozen field
set. Used to choose between model variants and reported beside the calibration split; never
trained on. Each case: a context, a question, grounded answers (0) and unsupported ones (1)."""

CASES = [
    {
        "context": [
            "Borrowing rules. Adult members may borrow up to 12 items at a time. Books are lent "
            "for 21 days and DVDs for 7 days. A loan can be renewed twice online unless another "
            "member has reserved the item.",
            "Late returns cost EUR 0.20 per item per day, capped at EUR 5 per item. Children's "
            "cards carry no late fees.",
        ],
        "prompt": "How long can I keep a book and what happens if I'm late?",
        "answers": [
            (
                0,
                "You can keep a book for three weeks and renew it online two times, as long as "
                "nobody has reserved it. If you return it late you pay 20 cents a day, but never "
                "more than EUR 5 for that book.",
            ),
            (
                0,
                "Books are lent for 21 days. With both renewals that is up to 63 days in total, "
                "provided no one reserves the book in the meantime.",
            ),
            (
                0,
                "The loan period for books is 21 days. The rules I have don't say whether you "
                "can renew by phone, only online.",
            ),
            (0, "Three weeks for books, one week for DVDs. Late fees are capped per item."),
            (1, "Books are lent for 28 days and can be renewed twice online."),
            (1, "You can keep a book for 21 days, and late returns are free for adult members."),
            (
                1,
                "Books are lent for 21 days. Late returns cost EUR 0.20 per item per day, capped "
                "at EUR 10 per item.",
            ),
            (
                1,
                "Books are lent for 21 days and can be renewed twice online. Members with a "
                "premium card can renew up to five times.",
            ),
        ],
    },
    {
        "context": [
            "Rental conditions. Drivers must be at least 21 years old and have held a licence for "
            "2 years. Drivers under 25 pay a young driver surcharge of USD 18 per day.",
            "The car must be returned with a full tank; otherwise refuelling is charged at USD 9 "
            "per gallon. Unlimited mileage is included on all rentals of 3 days or more.",
        ],
        "prompt": "I'm 23, what extra will I pay for a 4-day rental?",
        "answers": [
            (
                0,
                "Because you're under 25, there's a young driver surcharge of USD 18 a day, so "
                "USD 72 for four days. Mileage is unlimited since the rental is 3 days or longer.",
            ),
            (
                0,
                "At 23 you can rent, but you'll pay the young driver surcharge for each day. "
                "Bring the car back full or you'll be charged for fuel.",
            ),
            (
                0,
                "You'll pay USD 18 per day extra. The conditions don't mention any deposit, so I "
                "can't tell you about that.",
            ),
            (0, "You qualify as long as you've had your licence for at least two years."),
            (1, "Because you're under 25, there's a young driver surcharge of USD 25 per day."),
            (
                1,
                "Drivers under 25 pay USD 18 per day, and mileage is limited to 200 miles per "
                "day on rentals of 3 days or more.",
            ),
            (1, "You need to be at least 21 and have held a licence for 1 year."),
            (1, "The young driver surcharge does not apply to rentals of 3 days or more."),
        ],
    },
    {
        "context": [
            "Release 4.2 (May 2026). The export API now supports Parquet in addition to CSV. "
            "The default page size was raised from 100 to 500 rows. Python 3.9 is no longer "
            "supported; the minimum is now Python 3.10.",
            "Known issue: exports larger than 2 GB may time out on the free tier. Fixed in 4.2.1.",
        ],
        "prompt": "What changed in 4.2 that could break my scripts?",
        "answers": [
            (
                0,
                "Two things to check: you now need Python 3.10 or newer, and pages default to "
                "500 rows instead of 100, so paging loops may return fewer pages.",
            ),
            (
                0,
                "The default page size went up fivefold, from 100 to 500 rows. Parquet exports "
                "are new but optional.",
            ),
            (
                0,
                "Support for Python 3.9 was dropped in release 4.2. The notes do not say anything "
                "about changes to authentication.",
            ),
            (0, "On the free tier, exports above 2 GB may time out; that is fixed in 4.2.1."),
            (1, "The default page size was raised from 100 to 1000 rows."),
            (1, "Python 3.9 is still supported, but 3.8 is not."),
            (1, "The export API now supports Parquet and JSON in addition to CSV."),
            (1, "Exports larger than 2 GB may time out on the free tier; this was fixed in 4.3."),
        ],
    },
    {
        "context": [
            "Pharmacy hours: Monday to Friday 08:00-19:00, Saturday 09:00-13:00, closed on "
            "Sundays and public holidays. Flu vaccinations are given without appointment on "
            "weekdays between 10:00 and 16:00.",
            "Adults over 65 and pregnant women receive the flu vaccine free of charge. Others pay "
            "GBP 15. Bring photo ID.",
        ],
        "prompt": "Can I get a flu shot on Saturday, and is it free for my 70-year-old father?",
        "answers": [
            (
                0,
                "Not on Saturday: flu jabs are only given on weekdays, 10am to 4pm, with no "
                "appointment needed. Your father is over 65, so his is free; he should bring "
                "photo ID.",
            ),
            (
                0,
                "Flu vaccinations run on weekdays only. For people older than 65 there is no "
                "charge, while everyone else pays GBP 15.",
            ),
            (
                0,
                "The pharmacy is open on Saturday mornings, but vaccinations are only offered "
                "Monday to Friday. I can't find anything about home visits in the information "
                "provided.",
            ),
            (0, "Walk-in flu shots: weekdays, 10:00 to 16:00."),
            (1, "Yes, flu vaccinations are given on Saturdays between 09:00 and 13:00."),
            (1, "Your father is over 65, so he pays a reduced fee of GBP 5."),
            (
                1,
                "Flu vaccinations are given on weekdays between 10:00 and 16:00, and you need "
                "to book an appointment online first.",
            ),
            (1, "Adults over 60 and pregnant women receive the flu vaccine free of charge."),
        ],
    },
    {
        "context": [
            "Lease summary. The monthly rent is CHF 2,150, due on the first day of each month. "
            "The security deposit equals three months' rent and is held in a blocked account.",
            "The tenant may terminate with three months' notice to the end of any month except "
            "December. Pets require the landlord's written consent; small caged animals are "
            "allowed.",
        ],
        "prompt": "How much is the deposit and can I keep a cat?",
        "answers": [
            (
                0,
                "The deposit is three months' rent, so CHF 6,450, held in a blocked account. A "
                "cat needs the landlord's written consent; only small caged animals are allowed "
                "without asking.",
            ),
            (
                0,
                "You'd pay a deposit equal to 3 months of rent. For a cat, ask the landlord and "
                "get the permission in writing.",
            ),
            (
                0,
                "Rent is CHF 2,150 a month, due on the 1st. The lease summary doesn't say "
                "whether a cat would be approved; that is up to the landlord.",
            ),
            (0, "Deposit: three months' rent. Pets: written consent needed."),
            (1, "The deposit is two months' rent, CHF 4,300, held in a blocked account."),
            (
                1,
                "The deposit equals three months' rent. Cats are allowed without consent; only "
                "dogs need the landlord's approval.",
            ),
            (1, "The monthly rent is CHF 2,510, due on the first day of each month."),
            (
                1,
                "The deposit equals three months' rent and earns 1.5% interest per year in the "
                "blocked account.",
            ),
        ],
    },
    {
        "context": [
            "Checked baggage. Economy fares include one bag of up to 23 kg; Business fares include "
            "two bags of up to 32 kg each. Bags over the limit but under 32 kg cost EUR 70 each "
            "way.",
            "Cabin baggage: one bag of 8 kg plus one personal item. Sports equipment such as "
            "skis counts as a checked bag and must be booked 48 hours before departure.",
        ],
        "prompt": "I fly Economy with a 27 kg suitcase and skis. What will I pay?",
        "answers": [
            (
                0,
                "Your suitcase is over the 23 kg Economy limit but under 32 kg, so it costs EUR "
                "70 each way. The skis count as a checked bag and need booking 48 hours ahead; "
                "the rules I have don't give their price.",
            ),
            (
                0,
                "Economy includes one bag up to 23 kg, so your 27 kg case is 4 kg over and "
                "costs EUR 70 each way.",
            ),
            (
                0,
                "Skis are treated as checked baggage and must be booked at least two days before "
                "you fly.",
            ),
            (0, "A round trip with the heavy suitcase adds EUR 140 in overweight fees."),
            (1, "Your suitcase is over the limit, so it costs EUR 50 each way."),
            (1, "Economy includes one bag of up to 30 kg, so your suitcase is free."),
            (1, "Skis travel free of charge and do not need to be booked in advance."),
            (1, "Skis count as a checked bag and must be booked 24 hours before departure."),
        ],
    },
    {
        "context": [
            "Invoice INV-2041 was issued on 3 March 2026 for 40 licences at USD 12 per licence "
            "per month, billed quarterly. Payment is due 30 days after the invoice date.",
            "A late payment fee of 2% of the outstanding amount is charged once the invoice is "
            "more than 15 days overdue. Customers on annual billing receive a 10% discount.",
        ],
        "prompt": "How much is invoice INV-2041 and when do I have to pay it?",
        "answers": [
            (
                0,
                "It covers 40 licences at USD 12 each per month for a quarter, so USD 1,440 in "
                "total. It was issued on 3 March, so payment is due by 2 April 2026.",
            ),
            (
                0,
                "The monthly cost is USD 480 for your 40 licences, billed every three months. "
                "You have 30 days from 3 March to pay.",
            ),
            (
                0,
                "If you paid more than 15 days late, a 2% fee on the unpaid amount would be "
                "added. Switching to annual billing would cut the price by a tenth.",
            ),
            (
                0,
                "The invoice says nothing about paying by credit card, so I can't confirm that. "
                "It is due 30 days after it was issued.",
            ),
            (1, "It covers 40 licences at USD 15 per licence per month, billed quarterly."),
            (1, "Payment is due 14 days after the invoice date of 3 March 2026."),
            (1, "The invoice was issued on 3 May 2026 and is due 30 days later."),
            (1, "Customers on annual billing receive a 20% discount, and the late fee is 2%."),
        ],
    },
    {
        "context": [
            "Maintenance notice. The EU-West database cluster will be upgraded on Sunday 14 June "
            "between 02:00 and 04:00 UTC. Writes will be paused for up to 20 minutes; reads stay "
            "available throughout.",
            "The US-East cluster is not affected. Customers who need a different window must "
            "contact support at least 5 business days in advance.",
        ],
        "prompt": "Will our EU-West app go down during the maintenance?",
        "answers": [
            (
                0,
                "Not completely: reads keep working the whole time, but writes may pause for as "
                "long as 20 minutes during the two-hour window on 14 June.",
            ),
            (
                0,
                "Expect a write pause of at most a third of an hour sometime between 2 and 4 "
                "a.m. UTC on Sunday. Reading data won't be interrupted.",
            ),
            (
                0,
                "Your US-East services will not be touched. If the window doesn't suit you, ask "
                "support for another one five business days ahead or earlier.",
            ),
            (
                0,
                "The notice doesn't mention whether connections will be dropped, only that "
                "writes are paused.",
            ),
            (1, "Reads and writes will both be unavailable for up to 20 minutes."),
            (1, "Writes will be paused for up to 45 minutes between 02:00 and 04:00 UTC."),
            (1, "The US-East cluster will be upgraded on Sunday 14 June as well."),
            (
                1,
                "You must contact support at least 10 business days in advance for a different "
                "window.",
            ),
        ],
    },
    {
        "context": [
            "Dr. Amira Haddad leads the cardiology unit, which has 24 beds. Dr. Tomas Berg heads "
            "the neurology unit with 18 beds. Visiting hours on both units are 14:00 to 20:00.",
            "Each patient may have two visitors at a time. Children under 12 may visit only with "
            "an adult.",
        ],
        "prompt": "Who runs cardiology and how many visitors can my mother have?",
        "answers": [
            (
                0,
                "Cardiology is led by Dr. Amira Haddad. Your mother can have two visitors at once, "
                "between 2 pm and 8 pm.",
            ),
            (
                0,
                "Dr. Haddad heads the 24-bed cardiology unit. Visits are limited to a pair of "
                "people at the same time, and young children need an adult with them.",
            ),
            (0, "Together the two units have 42 beds. Visiting runs for six hours each day."),
            (0, "The information doesn't say whether flowers are allowed on the ward."),
            (1, "Cardiology is led by Dr. Tomas Berg, and each patient may have two visitors."),
            (1, "Dr. Amira Haddad leads the cardiology unit, which has 18 beds."),
            (1, "Each patient may have three visitors at a time between 14:00 and 20:00."),
            (1, "Children under 16 may visit only with an adult."),
        ],
    },
]
