"""The turn classifier: quality floors on the labelled turns (regression guards) and the
rules the issue names, one by one."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from trooper.conversation import Conversation, Message, TextBlock, Tool
from trooper.signals.classify import classify, classify_text, word_count

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
from classifier import DATA, HELDOUT, evaluate, load  # noqa: E402

# What the rules achieve on the blind held-out split (python bench/classifier.py --split heldout:
# 2,743 turns, the 543 of round two, the 600 of round three (h2_t), the 400 of issue 18's fifth round
# (h3_t), sixth (h4_t), seventh (h5_t) and eighth (h6_t), 40% of the last five batches near-misses by
# their briefs), measured once at the end of the eighth round: 89.0% accuracy, 3.1% of complex turns (47)
# sent local; the fresh batch h6_t alone 88.5%, 5.5% (12 of 220, the same with the round's starting rules).
# The ceiling rises from .029 because h6_t was added, not because a rule changed: the starting rules read
# 88.8% / 48 (3.2%) on the same 2,743 turns. The targets (95%, 2%) are not met; the README says so.
HELDOUT_ACCURACY_FLOOR = 0.889
HELDOUT_COMPLEX_TO_SIMPLE_CEILING = 0.032


def test_quality_floors_on_the_dev_turns() -> None:
    rows = load(DATA)
    assert len(rows) >= 400
    dev = evaluate(rows)
    # 97.3% and 0.8% now on 3,516 dev turns (python bench/classifier.py --split dev), with issue 18's sixth round's
    # two fresh blind batches (bd_t1201-1600) appended, each measured before any rule changed for it (81.5% / 2.7%
    # and 86.0% / 5.5% on the batch alone), then tuned on (95.5% / 0% and 95.0% / 0.9%). Of the 15 complex turns
    # sent local, 9 are issue 5's labels (a hello or thanks with tools on offer, the 20-word rule on a fact question or
    # a formatting job), which the labelling guide and the blind writers read otherwise.
    # The eighth round moved the seventh round's validation batch (400 `bv_t…` turns, never tuned on: 84.2% / 4.1%)
    # into dev: 96.0% and 1.1% on 3,916 turns, so the floors fall by that batch's weight, not by any rule change.
    # Its shapes, fixed one general rule each (bv_t 84.2% / 9 -> 86.8% / 7), bring dev to 96.4% and 1.0% (22).
    assert dev["accuracy"] >= 0.962, [(r["id"], d.reason) for r, d in dev["wrong"]]
    assert dev["complex_to_simple_share"] <= 0.011


def test_quality_floors_on_the_blind_heldout_turns() -> None:
    if not HELDOUT.is_file():
        pytest.skip(f"no blind held-out split at {HELDOUT} (it is written separately, from the labelling guide)")
    heldout = evaluate(load(HELDOUT))
    assert heldout["accuracy"] >= HELDOUT_ACCURACY_FLOOR, f"accuracy {heldout['accuracy']:.3f}"
    assert heldout["complex_to_simple_share"] <= HELDOUT_COMPLEX_TO_SIMPLE_CEILING, (
        f"complex→simple {heldout['complex_to_simple_share']:.3f}")


def ask(text: str, history: bool = False, tools: bool = False) -> str:
    messages = (Message("user", (TextBlock("earlier"),)), Message("assistant", (TextBlock("ok"),))) if history else ()
    conversation = Conversation(
        model="m", messages=(*messages, Message("user", (TextBlock(text),))),
        tools=(Tool("t", "", {"type": "object"}),) if tools else (),
    )
    return classify(conversation).label


@pytest.mark.parametrize(
    "text",
    [
        "what is the capital of France?", "define entropy", "convert 5 miles to km", "hi", "thanks!",
        "sort these: 3, 1, 2", "Summarize: 'Server down, fixed by restart.'", "¿Quién escribió Don Quijote?",
        "法国的首都是哪里？", "Что такое инфляция?", "what is 7 times 8", "what does ephemeral mean",
        "Sort these ascending: 42, 7, 19, 3, 88", "what's a class action lawsuit", "define import duty",
        "what's 10x10", "convert 0x1F to decimal", "is a whale a mammal", "how do you say thank you in japanese",
        "how do you spell necessary", "translate happy new year to chinese", "lithium atomic number",
        "hardest natural substance", "carpe diem meaning", "how do u spell definately",
        "reply with just yes or no: is a tomato a fruit", "what is 12 divided by 4", "5 days in hours",
        "how many ounces in 2 pounds", "what do you call it when a word sounds like its meaning",
        "what's 20% of 50",  # one plain operation
        "what does the 'git clone' command do", "quanto é 1 milha em quilômetros?",  # a quoted term; one conversion
        "wich is the longest river in asia", "can u understand german?",  # how people type: "wich", "u"
        "what's the formula for the volume of a sphere",  # a definition; a spreadsheet's formula is code
        "what does this word mean: ephemeral",
        "how many ml in a cup", "what is 9:30 pm in 24 hour time",  # one unit to another of the same kind
        "what do you call it when a word sounds like its meaning", "when did the titanic sink",
    ],
)
def test_simple_turns(text: str) -> None:
    assert ask(text) == "simple"


@pytest.mark.parametrize(
    ("text", "kw"),
    [
        ("why is the sky blue?", {}),
        ("should I use Postgres or MySQL?", {}),
        ("```python\nprint(1)\n```", {}),
        ("what does `x or y` return", {}),
        ("Traceback (most recent call last): File x.py, line 3", {}),
        ("write a function that reverses a string", {}),
        ("plan a 3-day trip to Rome, then book the hotels", {}),
        ("what is the capital of France? " + "please " * 17, {}),  # over 20 words
        ("what is the capital of the country our customers order from most?", {"tools": True}),
        ("and the second one?", {"history": True}),
        ("what is my project called?", {"history": True}),
        ("summarize the meeting", {}),
        ("为什么天空是蓝色的？", {}),
        ("summarize https://example.com/report", {}),
        # short but hard: what the turn asks for, not how long it is
        ("how many litres of air are in a room 4m by 5m by 2.5m", {}),
        ("what's next?", {}),
        ("how should I structure a small flask web project", {}),
        ("Nimbus or Stratus, which name is better for a weather app?", {}),
        ("convert these to km and add them up: 3 mi, 5 mi, 12 mi", {}),
        ("what are the second-order effects of a four-day work week", {}),
        ("Rotate the staging API keys and tell me what's left to do.", {}),
        ("price of a 120 euro jacket after 20% off and then 10% off", {}),
        ("in fahrenheit?", {"history": True}),
        ("what do I do at step 4", {}),
        ("what else do i need", {}),  # what only the conversation so far can tell, even when it was not sent
        ("is that all", {}),
        # what the turn asks for, in shapes the rules above do not name word for word
        ("whats the square footage of a 20x30 house", {}),  # dimensions to multiply
        ("what would a sugar tax do to small shops", {}),  # a hypothetical
        ("who loses if we raise the retirement age", {}),  # a condition
        ("does raising the minimum wage cost jobs", {}),  # what one thing does to another
        ("which name is catchier: brightpath or clearway", {}),  # a choice between options
        ("convert these to kg: 5 lb, 12 lb, 20 lb", {}),  # several conversions
        ("recipe in grams please: 2 cups flour, 1 cup sugar, 1 stick butter", {}),
        ("convert this table to metric:\nitem | weight\nflour | 2 lb\nsugar | 1 lb", {}),
        ("i have a 10 gallon tank, how many fish", {}),  # a count worked out from a given quantity
        ("whats the next thing", {"history": True}),
        ("is there a cheaper option", {"history": True}),  # cheaper than what came before
        ("how long in the oven", {"history": True}),  # how long for what was named before
        ("what does a rate hike mean for my mortgage", {}),  # the asker's own case
        ("whats a good gift for my dad", {}),
        ("how do i say no to my boss without getting fired", {}),  # what to say, not how to say a phrase
        ("format my resume", {}),  # a job on a text that is not given
        ("convert this to typescript", {}),
        ("what is the meaning of this poem", {}),  # a text pointed at but not carried
        ("vlookup formula for two sheets", {}),  # spreadsheet code
        ("whats half of 3/4", {}),  # hidden arithmetic
        ("what's the next prime after 97", {}),
        ("how old is someone born in 1990", {}),
        ("which is the odd one out: apple, banana, carrot, grape", {}),  # a puzzle
        ("sort these words by length: apple, fig, banana, kiwi", {}),  # sorting by a worked-out key
        ("who won the last world cup", {}),  # which one is the last depends on today's date
        ("perfect, do that", {"history": True}),  # going on with what was offered
        ("are eggs healthy", {}),  # a yes-or-no that asks for a judgement
        ("who would win in a fight, a bear or a gorilla", {}),
        ("what do you think about remote work", {}),
        ("what's going on with the economy", {}),
        ("average rent in berlin", {}),  # pay and prices vary by place and year
        ("whats a cheap way to heat a room", {}),  # a way to do something is advice
        ("what to pack for a week in iceland in march", {}),
        ("who is winning the game", {}),  # live data
        ("itinerary for 3 days in rome", {}),  # a plan with a duration in it, not a conversion
        ("what can i cook with potatoes and cheese", {}),
        ("my landlord says i owe him for the window but it was cracked when i moved in. who is right", {}),
        ("gdp of france divided by its population", {}),  # facts combined by an operation
        # why, asked as a what: what makes or causes it, the mechanism or logic behind it
        ("what makes bread go stale", {}), ("whats the science behind fireworks colours", {}),
        ("what's the point of a credit score", {}),
        ("who was taller, lincoln or washington", {}),  # a comparison between two named options
        ("how tall would a stack of a million coins be", {}),  # a hypothetical quantity, worked out
        ("what's the time in sydney", {}),  # the clock elsewhere now: live data
        ("give me a word that rhymes with silver", {}), ("an anagram of listen", {}),  # letters, not tokens
        ("define irony with an example", {}), ("what is a tariff, but explain it with a story", {}),  # a second ask
        # two facts put against each other in time, or days counted on a calendar
        ("was mozart alive when the piano was invented", {}), ("did the plague come before or after the crusades", {}),
        ("how many years between the first and second world war", {}), ("how many tuesdays in june 2031", {}),
        ("business days in march", {}),
        ("how long to roast a 3kg chicken", {}), ("how many calories in 4 slices of bread", {}),  # a quantity given
        ("what does it mean when a dog yawns", {}), ("what's the moral of the boy who cried wolf", {}),  # explained
        ("which planets could people breathe on", {}), ("what year will it be in 5000 days", {}),
        ("what does a strong dollar do to exports", {}), ("what does the new law mean for renters", {}),  # effects
        ("any good podcasts about history", {}), ("which one doesn't belong: cat, dog, car, cow", {}),
        ("was brexit the right call", {}), ("who won the election last season", {}), ("who won the last olympics", {}),
        ("what is the currency of the country with the most islands", {}),  # an attribute of a described thing
        ("15% tip on 64.50", {}),
        ("tallest tower we could climb near vienna", {}), ("who pays more tax if the rate goes up", {}),  # a condition
        ("what's the safest city in europe", {}), ("is 40 too late to become a nurse", {}),  # judgements
        ("what's a good salary for a nurse in leeds", {}),
        ("what was the significance of the battle of hastings", {}), ("relationship between sugar and sleep", {}),
        ("what do doctors say about cold showers", {}), ("what are the odds of rain in june in paris", {}),
        ("ping the design team about the new logo", {}), ("add a dentist appointment to my calendar for friday", {}),
        ("cancela mi suscripción", {}), ("envoie un mail à l'équipe", {}), ("lösche die alten logs", {}),  # acts
        ("do plants grow faster with music", {}), ("was the 1969 landing staged", {}), ("how much salt is too much", {}),
        ("what wine goes with lamb", {}), ("any books similar to dune", {}), ("how many times do we blink in a lifetime", {}),
        ("when is the next full moon", {}), ("what's the area of the largest lake in africa", {}),
        ("quelle voiture choisir pour la ville", {}), ("combien de calories dans 4 biscuits", {}),
        ("how much daylight in tromso on the shortest day of the year", {}),  # a fact narrowed three times
        ("what are some fun things to do in porto", {}), ("quanto tempo leva para aprender alemão", {}),
        ("哪个手机最适合老人", {}),
        ("what age should kids get a phone", {}),  # advice, whoever it is for
        ("what does this do: SELECT id FROM orders WHERE total > 100", {}),  # code carried, read
        ("google sheets formula to count the cells that say yes", {}), ("how many working hours in a month", {}),
        # a conversion whose factor the numbers do not carry: a density, a zone's offset that day, a calendar
        ("2 cups of flour in grams", {}), ("200g butter to cups", {}), ("how many grams is a stick of butter", {}),
        ("what is 3pm EST in london time", {}), ("noon tokyo time in new york", {}),
        ("convert unix timestamp 1700000000 to a date", {}),
        ("us shoe size 9 in eu", {}), ("gas mark 4 in celsius", {}), ("30 mpg in l/100km", {}),  # read off a table
        # a yes-or-no on health or the law is a ruling on a case; an origin or a reason is explained
        ("does ibuprofen interact with lisinopril", {}), ("are we allowed to store passport scans", {}),
        ("is 38.5 a fever", {}), ("where does rain come from", {}), ("what's the reason the sky is blue", {}),
        ("what size generator do i need for a fridge", {}), ("what is the treatment for strep throat", {}),
        # two facts joined in time; letters of words, whatever the words are
        ("who was president when the titanic sank", {}), ("was shakespeare alive when queen elizabeth i died", {}),
        ("how many countries start with the letter v", {}),
        # several operations in a short question
        ("what's the capital of peru and its population", {}),
        ("define irony with 3 examples", {}), ("what's the difference in population between france and germany", {}),
    ],
)
def test_complex_turns(text: str, kw: dict) -> None:
    assert ask(text, **kw) == "complex"


@pytest.mark.parametrize(
    ("text", "kw", "label"),
    [
        # a closed question about a short text it carries, the answers offered: one label read off it
        ('is this review positive or negative? "the soup was cold and the bread stale"', {}, "simple"),
        ('categorise this expense as food, travel or office: "taxi to the station 18.40"', {}, "simple"),
        ('is this a good opening line or not: "it was a dark and stormy night"', {}, "complex"),  # grades it
        ('is this contract fair or not: "the tenant pays for all repairs"', {}, "complex"),
        # a follow-up that names a place is not a pointer back: "cela" is in "iceland", "diese" in "diesel"
        ("by the way, what's the capital of iceland", {"history": True}, "simple"),
        ("diesel or petrol for mostly city driving", {"history": True}, "complex"),
        # a job on text the turn carries is judged by the ask, however long the text
        ("tldr\n\nThe library closes for refurbishment from 2 May to 30 June. Books on loan are renewed "
         "automatically, fines are paused, and the mobile van visits the square every Tuesday morning.", {}, "simple"),
        ("put each on its own line:\nred, green, blue, cyan, magenta, yellow, black, white, grey, silver, gold", {},
         "simple"),
        ("tldr and tell me what I should do about it:\nThe library closes for refurbishment from 2 May.", {}, "complex"),
        ("fix the grammar:\ndef f(x):\n    return x+1;", {}, "complex"),
        # chat that sets the scene, then one question for a fact that stands alone
        ("my niece is doing a school project on space and asked me at dinner and I had no clue at all, "
         "honestly. how many moons does mars have", {}, "simple"),
        ("my niece is doing a school project on space and I promised to help her with the poster this weekend. "
         "what should she put on it", {}, "complex"),
        ("I weigh 82 kg and I'm 1.80 m tall, I run 3 times a week and sleep badly these days. what is my bmi", {},
         "complex"),
        # a hello with tools on offer needs no tool; consent after an offer is the offered work
        ("hello!", {"tools": True}, "simple"),
        ("yes please", {"history": True}, "complex"),
        ("thanks, that helps", {"history": True}, "simple"),
        # a short fact question in another language, unless it asks why, how, should, or about the asker
        ("Qual é a capital da Austrália?", {}, "simple"),
        ("Wann wurde die Berliner Mauer gebaut?", {}, "simple"),
        ("Devo comprar uma casa ou alugar?", {}, "complex"),
        ("Warum ist der Himmel blau?", {}, "complex"),
        # a reason, a condition, consequences, a recommendation, a price, the asker's own case
        ("리액트에서 useEffect가 두 번 실행되는 이유가 뭐야?", {}, "complex"),
        ("¿Qué pasaría si la luna desapareciera?", {}, "complex"),
        ("ما هي عواقب رفع أسعار الفائدة؟", {}, "complex"),
        ("Quale libro mi consigli per imparare python?", {}, "complex"),
        ("Ile kosztuje remont łazienki 5 m2?", {}, "complex"),
        ("我的房间4米乘5米，需要多少块地砖？", {}, "complex"),
        ("is she still alive", {"history": True}, "complex"),
        ("translate to french", {"history": True}, "complex"),
        ("¿Cuál es la capital de Chile y cuál conviene más visitar?", {}, "complex"),
        # units a step apart are a fact; further apart, a multiplication; a rule applied to a date
        ("how many minutes in an hour", {}, "simple"),
        ("how many minutes are there in a year", {}, "complex"),
        ("was 2100 a leap year", {}, "complex"),
        ("kg to lbs: 80", {}, "simple"),
        ("20 celsius to fahrenheit and kelvin", {}, "complex"),  # two conversions
        ("180 cm in feet and inches", {}, "simple"),  # one quantity written in two units
        # reading one thing out of carried text; a topic shift after earlier turns
        ("pull out the tracking number from this:\nYour parcel 7781-22 left our depot today and arrives Friday.", {},
         "simple"),
        # one plain question whose answer the carried text states, however long the text; not a
        # judgement, a comparison or a tally over it, nor a value it does not state
        ("quick q, whats the deposit in this lease, my head hurts\n\nThe Tenant shall pay a security deposit of two "
         "months rent before moving in. Rent is due on the first day of each month by bank transfer.", {}, "simple"),
        ("can i bring a dog? here's their policy\n\nPets: dogs are welcome in the garden and the bar, not in the "
         "dining room.", {}, "simple"),
        ("what is the total\n\n3 x usb cable @ 7.50\n1 x monitor 199.00\n2 x mouse 15.00", {}, "complex"),
        ("which flight is cheapest\n\nBA123 London-Paris 240 GBP\nAF456 London-Paris 199 GBP", {}, "complex"),
        ("who should handle this ticket\n\nCustomer says the app crashes on login since the update.", {}, "complex"),
        # a job on carried text that asks for more than the job: a second job, a judgement, a tally
        ("translate to spanish and make it sound friendlier: your order is late", {}, "complex"),
        ("rewrite this to be more persuasive: please donate to our shelter", {}, "complex"),
        ("put these in order of importance: pay rent, buy groceries, fix car", {}, "complex"),
        ("which of these is a prime: 21, 23, 25", {}, "complex"),
        # a retrieval prompt: the context, then the question under its label
        ("Context: Our gym opens at 6am on weekdays and 8am on weekends.\n\nQuestion: when does the gym open on "
         "saturday?", {}, "simple"),
        ("Context: Members may bring one guest a month. Guests pay 5 euros.\n\nQuestion: what do I owe, if "
         "anything, for two guests this month? Show your reasoning.", {}, "complex"),
        # the text pasted first and the question under it, in a paragraph of its own
        ("[09:14:02] INFO  worker-3 started\n[09:15:40] INFO  worker-3 stopped\n\nwhat time did worker-3 start", {},
         "simple"),
        ("Reminder: the design review moved. It's now Wednesday in Room 4B. Bring laptops.\n\nwhat room is it in", {},
         "simple"),
        ("BA123 London-Paris 240 GBP\nAF456 London-Paris 199 GBP\n\nwhich flight is cheapest", {}, "complex"),
        ("Customer says the app crashes on login since the update.\n\nwho should handle this ticket", {}, "complex"),
        ("is this polite enough?\n\nDear team, the depot closes at noon on Friday.\n\nwhen does the depot close", {},
         "complex"),  # the text above asks something itself
        # the asker's own work, not given; a span counted from a date; an increment is code
        ("whats the time complexity of my solution", {}, "complex"),
        ("whats 2 weeks from next tuesday", {}, "complex"),
        ("x = x++ in java, whats x after", {}, "complex"),
        ("what is c++", {}, "simple"),
        # a thank-you closing the exchange after a word that it is settled; not when something is still wrong
        ("nvm found it, i had a typo in the template name. thanks a lot!", {"history": True}, "simple"),
        ("it still fails after the fix. thanks", {"history": True}, "complex"),
        ("fixed it, now deploy it. thanks", {"history": True}, "complex"),
        ("perfecto, gracias!!", {"history": True}, "simple"),
        ("hi who am i talking to", {}, "simple"),
        ("what kinds of things can you do for me", {}, "simple"),
        # what a command or keyword does, named in backticks or with its language; code in backticks is still code
        ("what does `ls -la` do", {}, "simple"),
        ("what does DISTINCT do in sql", {}, "simple"),
        ("what does this do: `for i in range(3): print(i)`", {}, "complex"),
        ("pretty print this\n{\"name\": \"ana\", \"age\": 31, \"active\": true}", {}, "simple"),
        # a thank-you closing the ask is not part of it ("ur the best" weighs nothing)
        ("pls convert 3 tbsp to ml thx so much ur the best", {}, "simple"),
        ("why is the sky blue thanks", {}, "complex"),
        # saying a phrase in a language, however it is asked
        ("japanese for 'nice to meet you'", {}, "simple"),
        ("Як перекласти 'I miss you' українською?", {}, "simple"),
        ("'Good morning, everyone' को हिंदी में कैसे कहेंगे", {}, "simple"),
        ("actually unrelated but how do you spell 'necessary' i always get it wrong", {"history": True}, "simple"),
        ("Sebutkan ibu kota Indonesia", {}, "simple"),
        # a question, then chat that asks nothing; a new question after a word that it is one
        ("what does http status 418 mean? just curious, not debugging anything", {}, "simple"),
        ("WHAT DOES DNA STAND FOR??? my teacher asked and i forgot lol", {}, "simple"),
        ("is it safe? asking for my kid", {}, "complex"),
        ("ah makes sense thanks. totally unrelated but how many legs does a spider have", {"history": True}, "simple"),
        ("ok ill check the zero dates. oh by the way how do you spell definately", {"history": True}, "simple"),
        ("can you fix it? btw how do you spell definately", {"history": True}, "complex"),
        ("btw how much is it", {"history": True}, "complex"),  # the new question still points back
        # a next question joined on with "and": whole on its own, or leaning on what came before
        ("and what's the capital of norway", {"history": True}, "simple"),
        ("and what is the population of it", {"history": True}, "complex"),
        ("and the currency", {"history": True}, "complex"),
        ("what's the population there", {"history": True}, "complex"),  # a place named before
        ("how many moons are there", {"history": True}, "simple"),
        ("thanks, all working now 🙏", {"history": True}, "simple"),
        ("this is perfect, thanks so much!!", {"history": True}, "simple"),
        # figures put in relation in the chat, then a quantity asked of them: worked out
        ("a bat and a ball cost 1.10 in total. the bat costs 1.00 more than the ball. how much is the ball", {},
         "complex"),
        ("three friends split a bill. ana paid 60, ben paid 25, cara paid nothing. total was 85. who owes whom how "
         "much", {}, "complex"),
        # a thing named by where it lies against another; an explanation asked for in another language;
        # whether a given sentence is natural
        ("capital of the country directly north of chad", {}, "complex"),
        ("ما الفرق بين الشيعة والسنة تاريخياً؟ اشرح بالتفصيل", {}, "complex"),
        ("この文は自然ですか？「私は昨日に学校へ行きました」", {}, "complex"),
        # a paragraph in a script without spaces, then a phrase to say in English
        ("我下周要去伦敦出差，第一次出国，有点紧张，签证已经办好了，酒店也订了，同事说那边的人都很客气。我想先学几个简单的词。"
         "“谢谢”用英语怎么说？", {}, "simple"),
        ("`git` - what is it", {}, "simple"),
        ("what is `x or y`", {}, "complex"),
        ("peru capital??", {}, "simple"),
        ("convert March 5, 2024 to ISO 8601", {}, "simple"),
        # a formatting job worded as make, number, separate; a yes-or-no on the text judges it
        ("make this passive: the committee approved the budget", {}, "simple"),
        ("make the first letter of each line capital:\nbuy milk\ncall mum\npay council tax", {}, "simple"),
        ("can you number them please?\n\nAmira\nBen\nCarlos\nDeepa", {}, "simple"),
        ("is this email too passive aggressive?\n\nHi Tom, just circling back on my email from last week, as per my "
         "last three messages.", {}, "complex"),
        # a question about the assistant itself, after earlier turns; not when it asks it of the work at hand
        ("can you speak spanish too?", {"history": True}, "simple"),
        ("cool, can you also browse the internet", {"history": True}, "simple"),
        ("can you read it", {"history": True}, "complex"),
        ("can you speak to my boss", {}, "complex"),
        # judging words inside a quoted text are not the ask's; talk about code is chat; a definition asked first
        ("who wrote this: 'It was the best of times, it was the worst of times'", {}, "simple"),
        ("Define idempotent please. I keep hearing it in code reviews at work and everyone nods like they know what "
         "it means, and I'm way too embarrassed to ask at this point lol", {}, "simple"),
        ("what's an API", {"history": True}, "simple"),
        ("what's an alternative", {"history": True}, "complex"),
        # pros and cons, an opinion, how it works, a choice, a comparison, yesterday: more than a fact in any language
        ("Quali sono i vantaggi e gli svantaggi del nucleare?", {}, "complex"),
        ("¿Qué opinas de la inteligencia artificial?", {}, "complex"),
        ("Wie funktioniert ein Kühlschrank?", {}, "complex"),
        ("Кто сильнее, лев или тигр?", {}, "complex"),
        ("中国的人口比美国多多少？", {}, "complex"),
        ("Wer hat gestern das Spiel gewonnen?", {}, "complex"),
        ("¿Cuánto debo ahorrar para jubilarme?", {}, "complex"),  # what the asker must do
        ("¿Quién ganará el mundial?", {}, "complex"),  # a prediction
        ("Wer ist schuld an der Finanzkrise?", {}, "complex"),  # a judgement
        ("¿Cuántos días faltan para Navidad?", {}, "complex"),  # counted from today
        ("Кто победит на выборах?", {}, "complex"),
        ("Quanti abitanti ha Roma?", {}, "simple"),
        ("比利时的首都是哪里？", {}, "simple"),
        ("Was ist ein Kühlschrank?", {}, "simple"),
        # live data in another language
        ("何時ですか", {}, "complex"),
        ("¿Qué tiempo hará mañana en Sevilla?", {}, "complex"),
        # a fact about the world needs no tool; one about the deployment's own data does
        ("what's the tallest mountain in africa", {"tools": True}, "simple"),
        ("which of my accounts have not been contacted", {"tools": True}, "complex"),
        ("whats the status of ticket 9912", {"tools": True}, "complex"),
        ("what time does the store close", {"tools": True}, "complex"),  # the business's own hours
        ("what is the price of bitcoin", {}, "complex"),  # a live price
        ("how many calories in a big mac? i had two today", {}, "complex"),  # the chat gives a quantity to work with
        ("what does ROI mean? we spent 2000 and made 2600", {}, "complex"),
        ("what year did ww2 end? also how old would my grandpa be, he was born that year", {}, "complex"),
        ("Flight AB12 departs 09:40, arrives 13:15.\n\nhow long is the flight", {}, "complex"),  # a span worked out
        ("who won the game last night", {}, "complex"),  # live data
        ("best pizza near me", {}, "complex"),  # where the asker is
        ("is the oven on", {}, "complex"),  # the state of a thing now
        ("is the bank open on monday", {}, "complex"),
        ("is the moon a planet", {}, "simple"),
        ("i think my cat is sick", {}, "complex"),
        ("cat or dog for kids", {}, "complex"),  # a choice, in English
        ("mi perro comió chocolate", {}, "complex"),  # Spanish "my", not Hungarian "what"
        ("mi a fővárosa Magyarországnak?", {}, "simple"),  # English with none of the few words that mark it, not Romanian "cât"
        # letters and words counted out, a square, an attribute of a thing named by another
        ("how many r in strawberry", {}, "complex"),
        ("what is the 10th word of the declaration of independence", {}, "complex"),
        ("what is 17 squared", {}, "complex"),
        ("what is the population of the capital of japan", {}, "complex"),
        ("who is the current CEO of microsoft", {}, "simple"),
        ("what is the tracking number", {"tools": True}, "complex"),  # the deployment's data
        ("how far is it to the airport", {"tools": True}, "complex"),  # where the asker is
        ("How big is the table?", {"tools": True}, "complex"),  # a thing at hand: the agent's SQL table
        ("is the build green", {"tools": True}, "complex"),
        ("what is the capital of France?", {"tools": True}, "simple"),  # the world's: "of France" says which
        ("what's the main point of this: 'The new rota cut double bookings, but staff say small changes now "
         "take longer.'", {}, "simple"),
        ("my grandma is visiting from poland next week and she doesn't speak any english. i want to put a sign "
         "on her door. how do i write 'welcome home, grandma' in polish", {}, "simple"),
        # a hello, a thanks or a question about the assistant is small talk only when nothing more is asked
        ("hey how's it going", {}, "simple"),
        ("Bonjour ! Tu peux m'aider ?", {}, "simple"),
        ("you're useless", {}, "simple"),
        ("hey why is the sky blue", {}, "complex"),
        ("hi should i buy a house", {}, "complex"),
        ("do you know how to fix a leaking tap", {}, "complex"),
        ("can you read this and tell me if the contract is fair", {}, "complex"),
        ("merci, pourquoi le ciel est bleu", {}, "complex"),
        ("gracias, y cuánto cuesta en total", {}, "complex"),
        ("danke, und was jetzt", {"history": True}, "complex"),
        ("tell me a joke about my boss that i can use in my speech", {}, "complex"),
        ("different question: how do you spell rhythm", {"history": True}, "simple"),
        # an acknowledgement or a topic shift, then a question that stands alone; or one that does not
        ("thanks, that worked! also who painted the starry night", {"history": True}, "simple"),
        ("random but who directed jaws", {"history": True}, "simple"),
        ("that worked, now do the same for the other file", {"history": True}, "complex"),
        ("reply with yes or no: should i quit my job", {}, "complex"),
        ("how do you spell it", {"history": True}, "complex"),
        # a fact question after chat, where the chat ends in a "but honestly"
        ("my landlord sent a long letter about the deposit and the repairs and I read it twice but honestly "
         "what does it mean for me", {}, "complex"),
        ("everyone at work keeps saying this word in meetings and I just nod along but honestly what does "
         "synergy mean", {}, "simple"),
        # a short turn: chat first, then a fact question that names nothing the chat names
        ("settling a bet with my brother. who was the first man on the moon", {}, "simple"),
        ("ok weird question but what is the largest organ in the human body", {}, "simple"),
        ("Ann is taller than Ben, Ben is taller than Cal. Is Cal taller than Ann?", {}, "complex"),  # from the chat
        ("a riddle: what has keys but can't open locks", {}, "complex"),
        ("my flight lands at 3pm. what time is that in london", {}, "complex"),
        # a search-style query or a word alone, in a first turn; not a pointer, not with tools on offer
        ("mount everest height", {}, "simple"), ("harry potter author", {}, "simple"), ("my house height", {}, "complex"),
        ("mitochondria", {}, "simple"), ("serendipity?", {}, "simple"), ("next?", {}, "complex"),
        ("status?", {"tools": True}, "complex"),
        # a smiley or an emoji between the chat, or the hello, and the question
        ("hi! i'm new here :) what's the tallest mountain in africa", {}, "simple"),
        ("hey! 👋 who wrote hamlet?", {}, "simple"), ("hey! 👋 why is the sky blue?", {}, "complex"),
        # how to do something, asked in another language
        ("wie kann ich meine steuererklärung machen", {}, "complex"), ("¿cómo puedo bajar mi factura de luz?", {}, "complex"),
        # three words can be a whole question after earlier turns; fewer words that lean on them cannot
        ("who discovered penicillin", {"history": True}, "simple"), ("what about rome", {"history": True}, "complex"),
        # "this list" is a list of things to tidy; a list in a language, or a list comprehension, is code
        ("can you put this list on one line separated by commas? monday, tuesday, wednesday", {}, "simple"),
        ("convert this loop to a list comprehension: result = []", {}, "complex"),
        ("how do i append to a python list", {}, "complex"),
        # praise, a retraction or an apology that asks nothing, and how the assistant is, are small talk
        ("good job!", {}, "simple"), ("never mind", {"history": True}, "simple"), ("sorry, wrong chat", {}, "simple"),
        ("do you have feelings", {}, "simple"), ("never mind, just delete the branch", {"history": True}, "complex"),
    ],
)
def test_what_the_turn_asks_decides(text: str, kw: dict, label: str) -> None:
    assert ask(text, **kw) == label


PARCEL_PROMPT = ("You are the assistant for a parcel delivery company. Standard delivery is 2-4 working days. "
                 "Prohibited items include aerosols and perfume. Cancel a booking in Account > Bookings.")


@pytest.mark.parametrize(
    ("text", "label"),
    [
        # the deployment's own facts, stated in the request's system prompt, read out
        ("can i send perfume", "simple"),
        ("how do I cancel", "simple"),
        # what the prompt does not settle: a judgement, the asker's own case, a plan, a number to work with
        ("should i send perfume", "complex"),
        ("how do i plan my deliveries", "complex"),
        ("can i send 3 perfume bottles", "complex"),
        ("can i send my grandmother a cake", "complex"),
    ],
)
def test_a_question_the_system_prompt_answers(text: str, label: str) -> None:
    conversation = Conversation(model="m", messages=(Message("user", (TextBlock(text),)),), system=PARCEL_PROMPT)
    assert classify(conversation).label == label


def test_an_agent_harness_prompt_answers_nothing() -> None:
    harness = "You are a coding agent. Run the tests, commit your work and open a pull request when done. " * 40
    conversation = Conversation(model="m", messages=(Message("user", (TextBlock("how do i commit"),)),), system=harness,
                                tools=(Tool("Bash", "", {"type": "object"}),))
    assert classify(conversation).label == "complex"


def test_twenty_word_boundary() -> None:
    twenty = "who painted the ceiling of the sistine chapel in rome " + "please " * 10
    assert word_count(twenty.strip()) == 20
    assert classify_text(twenty).label == "simple"
    assert classify_text(twenty + "now").label == "complex"


def test_dense_scripts_count_about_two_characters_a_word() -> None:
    assert word_count("我们正在构建一个本地优先的语言模型网关") >= 9


def test_word_alternatives_are_looked_up_exactly_as_their_patterns_match() -> None:
    from trooper.signals.rules import Rules, grams

    rules = Rules(r"\bhow (do|does) (i|we)\b", r"\bwhat'?s next\b", r"\bpros and cons\b")
    assert "how do i" not in rules.words and "whats next" in rules.words
    for text, found in (("how does we", True), ("what's next", True), ("whats next", True), ("the pros and cons", True),
                        ("how to", False), ("next steps", False)):
        assert rules.search(text, True, grams(text)) is found, text


def test_a_shared_gate_turns_away_only_what_no_part_could_match() -> None:
    from trooper.signals.classify import CODE_MARKS
    from trooper.signals.rules import AnyOf, Rules

    marks = AnyOf(Rules(r"\$\w+", gate=r"\$"), Rules(r"`[^`]+`", gate="`"), gate=r"[$`]")
    assert marks.search("it costs $price", True) and marks.search("run `ls` there", True)
    assert not marks.search("no marks here", True)
    with pytest.raises(ValueError):  # a part with no gate of its own could match where the shared one does not
        AnyOf(Rules(r"\bfoo\b"), Rules(r"\$\w+", gate=r"\$"), gate=r"\$")
    # The code marks' shared gate lets through every text one of its parts' gates does: each string of one or
    # two printable characters, and the words the gates name.
    printable = [chr(code) for code in range(32, 127)]
    texts = [a + b for a in printable for b in ["", *printable]] + ["import x", "d/dx"]
    for text in texts:
        if any(part.gate is not None and part.gate.search(text) for part in CODE_MARKS.parts):
            assert CODE_MARKS.passes_gate(text), text


def test_words_of_a_turn_are_its_runs_of_letters_and_digits_without_apostrophes() -> None:
    from trooper.signals.rules import grams

    for text, words in (("what's the snake_case of x-ray? 3.5kg", ["whats", "the", "snake", "case", "of", "x", "ray", "3", "5kg"]),
                        ("tab\tand\x1cseparator, [brackets]", ["tab", "and", "separator", "brackets"]),
                        ("l'été est là, it’s fine", ["lété", "est", "là", "its", "fine"]), ("", [])):
        assert grams(text) == frozenset(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}, text


def test_a_tables_patterns_match_however_they_are_grouped() -> None:
    from trooper.signals.rules import Rules, grams

    # a pattern at a word boundary, literal ones, one anchored, one keyed by its first word
    rules = Rules(r"\b(foo|bar) baz\b(?! x)", r"debería", r", (y|et) (cuándo|quand)\b", r"^is it\b", r"\bhow (do|does) \w+ work\b")
    for text, found in (("a foo baz here", True), ("foo baz x", False), ("¿debería ir?", True), ("sí, y cuándo", True),
                        ("is it so", True), ("so is it", False), ("how does dns work", True), ("how dns works", False)):
        assert rules.search(text, False, grams(text)) is found, text
        assert rules.search(text, False) is found, text  # without the turn's words every pattern runs


def test_patterns_keyed_by_their_words_match_as_written() -> None:
    """A pattern runs only on a turn that has one of its words, and matches where its expression
    does: words a boundary ends ("it", "why") are looked for, on a turn with an apostrophe, among its
    words apart at apostrophes too, where the turn's words join ("it's" is "its"); a group of words
    most turns have is keyed by words after it ("a function", "is … safe")."""
    from trooper.signals.rules import Rules, grams

    patterns = (r"\bwhat('?s| is) the point of\b", r"\b(step[- ]by[- ]step|steps to)\b", r"\b(it|this|split \d)\b(?! is)",
                r"\b(a|the|python|c\+\+) (function|script)\b(?! of\b)", r"^(hi|hello)\b[\w\s,.!?]{0,30}$",
                r"\b(mejor|najlepsz\w*)\b", r"^(is|are) (it|this) (safe|ok)\b", r"^help[.!?]*$", r"^(ok|okay),? (thanks|bye)",
                r"\b(en ingl[ée]s|in inglese)\W*$", r"\b(summari[sz]e|tl;?dr|(a |one )?single line)\b",
                r"^(is|are) .{0,40}\b(healthy|legit)\b")
    rules = Rules(*patterns)
    # every one is keyed by its words but the one whose word runs on ("najlepszy", searched letters first);
    # "(a |one )?single line" apart from "summarise", by "line" (not "a", which most turns have)
    assert [expression.pattern for expression in rules.open] == [r"najlepsz(?<=\bnajlepsz)\w*\b"]
    assert "a" not in rules.key_words and all("summari" not in expression.pattern for expression in rules.keyed["line"])
    assert rules.open_anchored is None
    texts = ("what's the point of it", "whats the point of", "what is the point of x", "step-by-step please",
             "the steps to follow", "it is", "it's broke", "this fails", "split 3 ways", "write a function", "a c++ script",
             "the function of the liver", "hi there!", "hi's",
             "la mejor", "najlepszy wybór", "is it safe", "is this ok?", "isn't it safe", "help!!", "helpful", "ok, thanks",
             "okay bye", "¿cómo se dice en inglés?", "in inglese's", "tl;dr this", "tldr pls", "put it on a single line",
             "single lines", "are eggs healthy", "is it legit's", "is x'healthy", "eggs are healthy", "nothing here", "")
    for text in texts:
        expected = any(re.search(pattern, text) for pattern in patterns)
        assert rules.search(text, True, grams(text)) is expected, text
        assert rules.search(text, True) is expected, text


def test_a_pattern_written_letters_first_matches_the_same() -> None:
    from trooper.signals.rules import _literal_first

    for pattern, written in ((r"\bnajlepsz\w*\b", r"najlepsz(?<=\bnajlepsz)\w*\b"), (r"\bmeilleure?\b", r"meilleur(?<=\bmeilleur)e?\b"),
                             (r"\b(foo|bar)", r"\b(foo|bar)"), (r"\bab?c", r"\bab?c")):
        assert _literal_first(pattern) == written
        for text in ("najlepszy", "xnajlepsz", "le meilleur", "meilleure", "lemeilleur", "foo", "abc", "ac", "xac", ""):
            assert (re.search(pattern, text) is None) == (re.search(written, text) is None), (pattern, text)


def test_a_gate_of_words_is_looked_up_in_the_turns_words() -> None:
    from trooper.signals.rules import Rules, grams

    pattern = r"\bhow \w+ (would|could)\b"
    rules = Rules(pattern, gate=r"\b(would|could|do to)\b")
    assert rules.gate_words == {"would", "could", "do to"}
    for text in ("how tall would it be", "how tall would've it been", "how long could-be", "how far wouldnt", "", "could"):
        expected = re.search(pattern, text) is not None
        assert rules.search(text, True, grams(text)) is expected and rules.search(text, True) is expected, text


def test_table_expressions_capture_no_groups() -> None:
    """A table only asks whether a text matches; its groups are compiled non-capturing (each capture
    costs every search), escaped parentheses and those in a class left alone."""
    from trooper.signals import classify as module
    from trooper.signals.rules import AnyOf, Rules, _without_captures

    assert _without_captures(r"\(a(b|c)[(]\)(?:d)(?=e)[^]()](f)") == r"\(a(?:b|c)[(]\)(?:d)(?=e)[^]()](?:f)"
    with pytest.raises(ValueError):
        _without_captures(r"(a)\1")
    tables = [table for table in vars(module).values() if isinstance(table, (Rules, AnyOf))]
    parts = [part for table in tables for part in (table.parts if isinstance(table, AnyOf) else (table,))]
    assert len(parts) > 20
    for part in parts:
        expressions = [part.gate, part.anchored, part.open_anchored, part.scripts, *part.latin, *part.open,
                       *(expression for group in part.keyed.values() for expression in group)]
        assert all(expression.groups == 0 for expression in expressions if expression is not None)


def test_select_star_is_code() -> None:
    """SQL's "select * from …" is code: the code table's "select \\*" had a boundary after the star, which asks
    for a letter right after it, so it never matched "select * from"."""
    for text in ("select * from orders", "is select * from a big table bad", "summarize: select * from t"):
        assert classify_text(text).reason == "code", text


def test_a_hex_number_is_code_where_it_starts_a_word() -> None:
    from trooper.signals.classify import CODE
    from trooper.signals.rules import grams

    for text, found in (("whats at address 0x7fff0000", True), ("(0xdeadbeef)", True), ("the value x0xdead", False),
                        ("0x1f", False)):
        assert CODE.search(text, True, grams(text)) is found, text


def test_sentences_break_after_a_mark_a_smiley_or_around_emoji() -> None:
    from trooper.signals.classify import _SENTENCE_END

    for text, sentences in (("hi there. what is x", ["hi there.", "what is x"]), ("cool :) who won", ["cool :)", "who won"]),
                            ("thanks 🙏 what is y", ["thanks", "what is y"]), ("pi is 3.14 ok", ["pi is 3.14 ok"]),
                            ("wait!  really", ["wait!", "really"]), ("a :p b", ["a :p", "b"]), ("x。 y", ["x。", "y"])):
        assert _SENTENCE_END.split(text) == sentences, text


def test_cheap_looks_agree_with_the_expressions() -> None:
    from trooper.signals.classify import _has_digit, _latin

    for text, digit, latin in (("abc", False, True), ("x9", True, True), ("٣ قطط", True, False), ("café", False, True),
                               ("кот 2", True, False), ("", False, True)):
        assert _has_digit(text) is digit and _latin(text) is latin, text


def test_trailing_emoji_and_spaces_go_but_a_first_character_stays() -> None:
    from trooper.signals.classify import _without_trailing_symbols

    for text, kept in (("thanks 🙏", "thanks"), ("ok \t\x1f", "ok"), ("done ✅️ ", "done"), ("   ", " "), ("🙏🙏", "🙏"),
                       ("", ""), ("why?", "why?")):
        assert _without_trailing_symbols(text) == kept, text


def test_a_turn_that_repeats_an_earlier_one_still_has_its_history() -> None:
    """The last turn is found by position: an equal earlier turn ("translate to french", twice)
    is not where the conversation starts, so the repeat depends on what was said between."""
    said = (Message("user", (TextBlock("translate to french"),)), Message("assistant", (TextBlock("Translate what?"),)),
            Message("user", (TextBlock("translate to french"),)))
    assert classify(Conversation(model="m", messages=said)).label == "complex"
    assert classify(Conversation(model="m", messages=said[:1])).label == "simple"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        # something that fails is a problem to troubleshoot, however short the report
        ("pivot table won't refresh", "complex"), ("the csv wont open in numbers", "complex"),
        ("sorted table keeps freezing", "complex"), ("the bullet list won't save", "complex"),
        # its simple neighbours: a definition, a spelling, a word for a state
        ("what's a pivot table", "simple"), ("how do you spell doesn't", "simple"), ("what is a power bank", "simple"),
    ],
)
def test_a_report_that_something_fails_is_troubleshooting(text: str, label: str) -> None:
    assert ask(text) == label
    if label == "complex":  # (each read as a formatting job before: a table, a csv, a list)
        assert classify_text(text).reason == "reasoning, judgment or a task", text


@pytest.mark.parametrize(
    ("text", "kw", "label"),
    [
        # a pick among options earlier turns named, wherever in the turn it is asked
        ("mostly families in a small town, cozy vibe. which one", {"history": True}, "complex"),
        ("all three sound nice. which one", {"history": True}, "complex"),
        # with nothing before it, a pick among options the turn names stays the turn's own question
        ("which one is the capital of australia, sydney or canberra", {}, "complex"),
        ("thanks! what's the capital of peru", {"history": True}, "simple"),
        # a question after a word that it is a new one stands on its own; a request after it stays one
        ("separately - what's a p-value", {"history": True}, "simple"),
        ("on a different note, who wrote hamlet", {"history": True}, "simple"),
        ("separately, can you also update the doc", {"history": True}, "complex"),
    ],
)
def test_after_earlier_turns_a_pick_depends_on_them_and_a_new_question_does_not(text: str, kw: dict, label: str) -> None:
    assert ask(text, **kw) == label


@pytest.mark.parametrize(
    ("text", "label"),
    [
        # a closing that drops the matter, or says the user takes it up later themselves, asks nothing
        ("actually nevermind, i'll do it later. good night!", "simple"), ("i'll come back to it tomorrow, thx", "simple"),
        ("nvm, i'll ask my boss tomorrow. thanks!", "simple"),
        # its complex neighbours: a request put off, a request after the drop, a doubt left open
        ("do it tomorrow, thanks", "complex"), ("send it later, thanks", "complex"),
        ("nevermind, can you do the other one, thanks", "complex"), ("i'll check later if the numbers add up thanks", "complex"),
    ],
)
def test_a_closing_that_sets_the_matter_aside_is_small_talk(text: str, label: str) -> None:
    assert ask(text, history=True) == label


@pytest.mark.parametrize(
    ("text", "label"),
    [
        # how to say a quoted word in a language, in Hebrew; a short text to translate, in scripts the table lacked
        ("איך אומרים 'סיסמה' באנגלית", "simple"), ("번역해 주세요: 감사합니다", "simple"),
        ("תרגם לאנגלית: אני לא יכול לבוא מחר", "simple"), ("ترجم إلى الإنجليزية: شكرا جزيلا", "simple"),
        # their complex neighbours: how to tell someone something, a why, a contract to translate and summarise
        ("איך אומרים לבוס שאני מתפטר", "complex"), ("למה קשה לדבר באנגלית", "complex"),
        ("תרגם את החוזה לאנגלית ותסכם אותו", "complex"),
        # whether the assistant speaks a language, asked in that language: a question about the assistant
        ("hoi, spreek je ook nederlands?", "simple"), ("hablas español?", "simple"), ("sprichst du deutsch", "simple"),
        ("parlez-vous anglais ?", "simple"),
        # its complex neighbours: a task after it, someone else to speak with
        ("hola, hablas inglés? necesito ayuda con mi contrato", "complex"), ("sprichst du deutsch mit deinem chef", "complex"),
        ("hoi, kun je mijn cv herschrijven", "complex"),
        # a tool's key or setting asked as a search, without a question word
        ("keyboard shortcut to undo in word", "simple"), ("default port for postgres", "simple"),
        ("shortcut to copy on a mac", "simple"),
        # its complex neighbours: a change to make, a shortcut to make, a shortcut that fails
        ("change the default port for postgres", "complex"), ("how do i make a keyboard shortcut to open chrome", "complex"),
        ("shortcut to my desktop keeps disappearing", "complex"),
        # a request after a hello in another language is the request, not small talk
        ("hola, puedes reescribir mi cv", "complex"), ("ciao, puoi scrivere una lettera", "complex"),
        ("hola, cancela mi pedido", "complex"), ("bonjour, envoie le rapport à marie", "complex"),
        ("cześć, możesz napisać list", "complex"),
        # its simple neighbours: asking for help with no task yet, how are you, a thanks
        ("hola, puedes ayudarme?", "simple"), ("Bonjour ! Tu peux m'aider ?", "simple"), ("ciao, come stai?", "simple"),
        ("merci beaucoup, bonne soirée !", "simple"),
        # a number or a date written out in another notation is one conversion
        ("write 1,250 out in words", "simple"), ("write 7 March 2026 in ISO format", "simple"),
        ("write 14 in roman numerals", "simple"),
        # its complex neighbours: words to write, two notations, an essay of a length
        ("write 500 words on climate change", "complex"), ("write 1,250 in words and in roman numerals", "complex"),
        ("write 300 words in english about my trip", "complex"),
        # a thanks and how it went, spelt as people type it; not with more asked or something still wrong
        ("thank u so much that worked perfectly!!", "simple"), ("thank u, now do the next one", "complex"),
        ("thank u but it still fails", "complex"),
    ],
)
def test_shapes_blind_writers_use(text: str, label: str) -> None:
    """Shapes the seventh round's blind batch (bv_t) showed the rules missed, each beside its neighbours."""
    assert ask(text) == label


@pytest.mark.parametrize("turn", [
    "ok i'll check it later but it still fails, thanks",
    "so i restarted it and the sync still crashes, thanks anyway",
    "ok tried that, build failed again. thanks",
])
def test_a_report_of_trouble_is_not_swallowed_as_an_opening(turn: str) -> None:
    """An opening "ok" or "so" takes a few words up to a comma as framing ("ok so, what is the capital of peru");
    it took a report of something still failing with it, and the thanks left over read as small talk."""
    assert classify(Conversation("m", (Message("user", (TextBlock(turn),)),))).label == "complex"


@pytest.mark.parametrize("turn", ["ok i'll check it later, thanks!", "ok so, what is the capital of peru"])
def test_an_opening_without_trouble_is_still_framing(turn: str) -> None:
    assert classify(Conversation("m", (Message("user", (TextBlock(turn),)),))).label == "simple"


@pytest.mark.parametrize("turn, label", [
    ("请帮我写一封信给老板，翻译成英文", "complex"),  # write my boss a letter, then translate it: two jobs
    ("メールを書いて、英語に翻訳して", "complex"),
    ("把这句话翻译成英文：我今天很累", "simple"),  # translate this sentence
    ("这个字用英文怎么写", "simple"),  # how this word is written in English
])
def test_writing_something_and_translating_it_is_two_jobs(turn: str, label: str) -> None:
    assert classify(Conversation("m", (Message("user", (TextBlock(turn),)),))).label == label
